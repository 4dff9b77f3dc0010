"""Generated protobuf and gRPC stubs (``python client/generate_protos.py``; do not edit by hand).

``explanation_pb2`` holds attnserve's own messages; ``inference_pb2``/``management_pb2`` (and their
``_grpc`` service stubs) are wire-compatible copies of TorchServe 0.12's gRPC API. Importing this
package imports nothing but protobuf, so the TorchServe worker can use the messages without the SDK's
transports.
"""
