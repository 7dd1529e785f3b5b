"""The gRPC API (SPEC §11): servicers translating to the same services as REST."""
