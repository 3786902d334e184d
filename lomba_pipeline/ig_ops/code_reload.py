"""Ask a running Dagster UI to reload the code location, so schedules built from the spec (the
morning post crons) show and use the spec version just made active."""

from __future__ import annotations

import httpx

LOCATION = "lomba_pipeline"
RELOAD = """mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry {
      locationOrLoadError { __typename ... on PythonError { message } }
    }
    ... on PythonError { message }
    ... on RepositoryLocationNotFound { message }
    ... on ReloadNotSupported { message }
    ... on UnauthorizedError { message }
  }
}"""


def reload_code_location(ui_url: str, location: str = LOCATION, timeout: float = 120) -> str:
    """One line saying what happened; never raises (the spec is active either way, and each
    post schedule checks the active spec at its tick)."""
    url = ui_url.rstrip("/") + "/graphql"
    try:
        response = httpx.post(
            url, json={"query": RELOAD, "variables": {"name": location}}, timeout=timeout
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return (
            f"no Dagster UI answered at {ui_url} ({type(exc).__name__}): the schedules show the"
            " new post times after the next code location reload; posts follow the active spec"
            " already"
        )
    result = (body.get("data") or {}).get("reloadRepositoryLocation") or {}
    loaded = result.get("locationOrLoadError") or {}
    if result.get("__typename") == "WorkspaceLocationEntry" and loaded.get("__typename") == (
        "RepositoryLocation"
    ):
        return f"Dagster UI at {ui_url}: code location {location} reloaded"
    problem = loaded.get("message") or result.get("message") or str(body.get("errors"))[:300]
    return f"Dagster UI at {ui_url} could not reload {location}: {problem}"
