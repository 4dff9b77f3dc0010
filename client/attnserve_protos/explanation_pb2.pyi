from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainRequest(_message.Message):
    __slots__ = ("text", "methods", "methods_given", "target_label", "target_index", "image", "concepts", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MethodOptions
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MethodOptions, _Mapping]] = ...) -> None: ...
    TEXT_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    METHODS_GIVEN_FIELD_NUMBER: _ClassVar[int]
    TARGET_LABEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_INDEX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONCEPTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    text: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    methods_given: bool
    target_label: str
    target_index: int
    image: bytes
    concepts: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.MessageMap[str, MethodOptions]
    def __init__(self, text: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., methods_given: _Optional[bool] = ..., target_label: _Optional[str] = ..., target_index: _Optional[int] = ..., image: _Optional[bytes] = ..., concepts: _Optional[_Iterable[str]] = ..., options: _Optional[_Mapping[str, MethodOptions]] = ...) -> None: ...

class MethodOptions(_message.Message):
    __slots__ = ("values",)
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.ScalarMap[str, int]
    def __init__(self, values: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Span(_message.Message):
    __slots__ = ("text", "start", "end", "cut")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CUT_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: int
    end: int
    cut: bool
    def __init__(self, text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., cut: _Optional[bool] = ...) -> None: ...

class Attribution(_message.Message):
    __slots__ = ("tokens", "words", "patches")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    PATCHES_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedScalarFieldContainer[float]
    words: _containers.RepeatedScalarFieldContainer[float]
    patches: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, tokens: _Optional[_Iterable[float]] = ..., words: _Optional[_Iterable[float]] = ..., patches: _Optional[_Iterable[float]] = ...) -> None: ...

class PatchGrid(_message.Message):
    __slots__ = ("grid",)
    GRID_FIELD_NUMBER: _ClassVar[int]
    grid: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, grid: _Optional[_Iterable[int]] = ...) -> None: ...

class Concept(_message.Message):
    __slots__ = ("cav_accuracy", "layers")
    CAV_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    cav_accuracy: _containers.RepeatedScalarFieldContainer[float]
    layers: _containers.RepeatedCompositeFieldContainer[ConceptLayer]
    def __init__(self, cav_accuracy: _Optional[_Iterable[float]] = ..., layers: _Optional[_Iterable[_Union[ConceptLayer, _Mapping]]] = ...) -> None: ...

class ConceptLayer(_message.Message):
    __slots__ = ("layer", "sensitivity", "positive", "tokens", "words", "patches")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    PATCHES_FIELD_NUMBER: _ClassVar[int]
    layer: int
    sensitivity: float
    positive: bool
    tokens: _containers.RepeatedScalarFieldContainer[float]
    words: _containers.RepeatedScalarFieldContainer[float]
    patches: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, layer: _Optional[int] = ..., sensitivity: _Optional[float] = ..., positive: _Optional[bool] = ..., tokens: _Optional[_Iterable[float]] = ..., words: _Optional[_Iterable[float]] = ..., patches: _Optional[_Iterable[float]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "field", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    field: str
    message: str
    def __init__(self, code: _Optional[str] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("model", "label", "target", "probabilities", "tokens", "words", "truncated", "attributions", "batch_size", "timings_s", "concepts", "patches", "error")
    class ProbabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class AttributionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Attribution
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Attribution, _Mapping]] = ...) -> None: ...
    class TimingsSEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ConceptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Concept
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Concept, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_S_FIELD_NUMBER: _ClassVar[int]
    CONCEPTS_FIELD_NUMBER: _ClassVar[int]
    PATCHES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    model: ModelRef
    label: str
    target: str
    probabilities: _containers.ScalarMap[str, float]
    tokens: _containers.RepeatedCompositeFieldContainer[Span]
    words: _containers.RepeatedCompositeFieldContainer[Span]
    truncated: bool
    attributions: _containers.MessageMap[str, Attribution]
    batch_size: int
    timings_s: _containers.ScalarMap[str, float]
    concepts: _containers.MessageMap[str, Concept]
    patches: PatchGrid
    error: Error
    def __init__(self, model: _Optional[_Union[ModelRef, _Mapping]] = ..., label: _Optional[str] = ..., target: _Optional[str] = ..., probabilities: _Optional[_Mapping[str, float]] = ..., tokens: _Optional[_Iterable[_Union[Span, _Mapping]]] = ..., words: _Optional[_Iterable[_Union[Span, _Mapping]]] = ..., truncated: _Optional[bool] = ..., attributions: _Optional[_Mapping[str, Attribution]] = ..., batch_size: _Optional[int] = ..., timings_s: _Optional[_Mapping[str, float]] = ..., concepts: _Optional[_Mapping[str, Concept]] = ..., patches: _Optional[_Union[PatchGrid, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class GlobalConceptsRequest(_message.Message):
    __slots__ = ("texts", "target", "concepts")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CONCEPTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    target: str
    concepts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., target: _Optional[str] = ..., concepts: _Optional[_Iterable[str]] = ...) -> None: ...

class GlobalConceptLayer(_message.Message):
    __slots__ = ("layer", "score_mean", "score_std", "scores", "p_vs_half", "p_vs_random", "cav_accuracy")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    SCORE_MEAN_FIELD_NUMBER: _ClassVar[int]
    SCORE_STD_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    P_VS_HALF_FIELD_NUMBER: _ClassVar[int]
    P_VS_RANDOM_FIELD_NUMBER: _ClassVar[int]
    CAV_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    layer: int
    score_mean: float
    score_std: float
    scores: _containers.RepeatedScalarFieldContainer[float]
    p_vs_half: float
    p_vs_random: float
    cav_accuracy: float
    def __init__(self, layer: _Optional[int] = ..., score_mean: _Optional[float] = ..., score_std: _Optional[float] = ..., scores: _Optional[_Iterable[float]] = ..., p_vs_half: _Optional[float] = ..., p_vs_random: _Optional[float] = ..., cav_accuracy: _Optional[float] = ...) -> None: ...

class GlobalConcept(_message.Message):
    __slots__ = ("layers",)
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedCompositeFieldContainer[GlobalConceptLayer]
    def __init__(self, layers: _Optional[_Iterable[_Union[GlobalConceptLayer, _Mapping]]] = ...) -> None: ...

class GlobalConceptsResponse(_message.Message):
    __slots__ = ("model", "target", "inputs", "concepts", "error")
    class ConceptsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: GlobalConcept
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[GlobalConcept, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    CONCEPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    model: ModelRef
    target: str
    inputs: int
    concepts: _containers.MessageMap[str, GlobalConcept]
    error: Error
    def __init__(self, model: _Optional[_Union[ModelRef, _Mapping]] = ..., target: _Optional[str] = ..., inputs: _Optional[int] = ..., concepts: _Optional[_Mapping[str, GlobalConcept]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...
