"""Code generated from api/proto/amss.proto."""
