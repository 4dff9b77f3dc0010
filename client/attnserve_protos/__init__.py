"""Generated protobuf stubs (``python client/generate_protos.py``; do not edit the ``*_pb2*`` files by hand).

``explanation_pb2`` holds attnserve's own messages (``attnserve.v1``: explain and global-concepts
requests and responses); ``inference_pb2``/``management_pb2`` are wire-compatible copies of TorchServe
0.12's gRPC API. A package of its own, shipped in the client distribution beside the SDK: the
TorchServe worker's codec (``handlers/proto_codec.py``) and the SDK (``attnserve_client``) both import
it, and it imports nothing but protobuf (and googleapis-common-protos for ``google.rpc.Status``), so the
server needs neither the SDK nor its transports.
"""
