"""The fapiaohub Python SDK: typed, retrying clients for fapiaohub and Ekuaibao-compatible servers."""

from fapiaohub.client.errors import AuthError, BusinessError, FapiaohubError
from fapiaohub.client.sync import Client

__all__ = ["AuthError", "BusinessError", "Client", "FapiaohubError"]
