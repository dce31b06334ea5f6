"""The wire shapes: what the API, the exports and the SDK write and read, shared by the server and the SDK."""
