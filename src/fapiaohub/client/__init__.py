"""The fapiaohub Python SDK: typed, retrying clients for fapiaohub and Ekuaibao-compatible servers."""

from fapiaohub.client._core import CollectionPage, RetryPolicy, Token
from fapiaohub.client.asynchronous import AsyncClient
from fapiaohub.client.errors import AuthError, BusinessError, FapiaohubError
from fapiaohub.client.sync import Client

__all__ = ["AsyncClient", "AuthError", "BusinessError", "Client", "CollectionPage", "FapiaohubError", "RetryPolicy",
           "Token"]
