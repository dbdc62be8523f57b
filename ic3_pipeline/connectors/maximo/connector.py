"""Maximo as the collection engine sees it: the OSLC query of one page, its auth headers, its answers.

Everything else - paging (several pages at once, known from ``collectioncount``), incremental reads on
``changedate``, child tables, schema drift, deletes, load order - is the engine's, and which object structures to
read is the source's ``defs.yaml``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import quote, urlencode

import httpx

from ic3_pipeline.connectors.maximo.answers import parse_page
from ic3_pipeline.sync.connector import Credentials
from ic3_pipeline.sync.streams import CollectionApiError, Page, PageRequest


def _quoted(value: str) -> str:
    """A string or date literal of ``oslc.where``: double-quoted, inner quotes escaped."""
    return '"' + value.replace('"', '\\"') + '"'


class MaximoConnector:
    name = "maximo"
    display_name = "IBM Maximo"
    kind = "collection"
    secrets: Mapping[str, str] = {
        "api_key": "an API key (sent as the apikey header)",
        "user": "a Maximo user (maxauth, when there is no API key)",
        "password": "that user's password",
    }
    # Any one of these sets of secrets is enough: the API key, else user and password.
    secret_alternatives = (("api_key",), ("user", "password"))
    paging = "page_number"

    def headers(self, credentials: Credentials) -> dict[str, str]:
        if credentials.get("api_key"):
            return {"apikey": credentials.get("api_key"), "Accept": "application/json"}
        if credentials.get("user") and credentials.get("password"):
            pair = f"{credentials.get('user')}:{credentials.get('password')}".encode()
            return {"maxauth": base64.b64encode(pair).decode("ascii"), "Accept": "application/json"}
        raise CollectionApiError(
            f"No Maximo credentials: set {credentials.where('api_key')} (or {credentials.where('user')} and "
            f"{credentials.where('password')}) in the environment.", auth=True)

    def page_request(self, request: PageRequest) -> str:
        stream = request.stream
        where = []
        if stream.partition_field and request.partition is not None:
            where.append(f"{stream.partition_field}={_quoted(request.partition)}")
        if stream.change_field and request.since is not None:
            where.append(f"{stream.change_field}>={_quoted(request.since.isoformat(timespec='seconds'))}")
        order = [f"+{stream.change_field}"] if stream.change_field else []
        order += [f"+{name}" for name in stream.key]
        select = ",".join(["*", *(f"{child.name}{{*}}" for child in stream.children)])
        params = {
            "lean": "1",
            "oslc.select": select,
            **({"oslc.where": " and ".join(where)} if where else {}),
            "oslc.orderBy": ",".join(order),
            "oslc.pageSize": str(request.page_size),
            "pageno": str(request.page_number),
            "collectioncount": "1",
        }
        return f"oslc/os/{stream.resource.lower()}?{urlencode(params, quote_via=quote, safe='*,{}')}"

    def parse_page(self, response: httpx.Response) -> Page:
        return parse_page(response)


connector = MaximoConnector()
