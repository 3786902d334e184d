"""The Dagster UI has no login, so nothing it shows may contain a secret.

``lomba dev`` runs with a password in the database URL and every other secret set to a marker;
the running webserver's GraphQL is then asked for what a visitor can read: every resource's
configured values, every job's launchpad default YAML (the "scaffold config" button), the instance
info page, and the repository's whole resource list. No marker may appear in any of them.
"""

import json
import os
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.processes import graphql, lomba_dev

RESOURCES = """query Resources($repo: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $repo) {
    __typename
    ... on ResourceDetailsList { results {
      name configuredValues { key value type } configFields { name defaultValueAsJson }
    } }
  }
}"""
JOBS = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  name location { name } jobs { name }
} } } }"""
DEFAULT_YAML = """query Yaml($selector: PipelineSelector!) {
  runConfigSchemaOrError(selector: $selector) {
    __typename
    ... on RunConfigSchema { rootDefaultYaml }
  }
}"""
INSTANCE = "{ instance { info } }"


def _with_password(url: str, password: str) -> str:
    """The same URL with a password (the embedded server trusts its unix socket, so it connects)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or ""
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def test_dagster_ui_shows_no_secret(test_environment):
    secrets = {
        "LOMBA_DATABASE_URL": "pg-pass-7f3a91",
        "LOMBA_DAGSTER_DATABASE_URL": "pg-pass-7f3a91",
        "LOMBA_R2_SECRET_ACCESS_KEY": "r2-secret-55c2e0",
        "LOMBA_R2_ACCESS_KEY_ID": "r2-keyid-19bb04",
        "ZHIPUAI_API_KEY": "zhipu-key-a0c3d2",
        "MISTRAL_API_KEY": "mistral-key-6e8f11",
        "GEMINI_API_KEY": "gemini-key-93d7c5",
        "LOMBA_WAHA_API_KEY": "waha-key-2b4f68",
        "LOMBA_IG_SCRAPER_PASSWORD": "ig-pass-c81e07",
        # a real Fernet key: the IG resources that nest it must show only the variable's name
        "LOMBA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    env = os.environ.copy()
    env.update(
        {
            "LOMBA_DATABASE_URL": _with_password(test_environment["app_url"], "pg-pass-7f3a91"),
            "LOMBA_DAGSTER_DATABASE_URL": _with_password(
                test_environment["dagster_url"], "pg-pass-7f3a91"
            ),
            "LOMBA_R2_ENDPOINT_URL": "https://acct.r2.example.test",
            "LOMBA_R2_BUCKET": "posters",
            "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
            "LOMBA_WAHA_URL": "http://waha.example.test",
            "LOMBA_IG_SCRAPER_USERNAME": "scraper",
        }
    )
    env.update({name: value for name, value in secrets.items() if not name.endswith("DATABASE_URL")})
    markers = sorted(set(secrets.values()))

    port = free_port()
    seen: list[str] = []
    with lomba_dev(port, env=env, extra_args=("--no-admin",)):
        repos = graphql(port, JOBS)["repositoriesOrError"]["nodes"]
        assert repos, "the code location did not load"
        for repo in repos:
            selector = {"repositoryName": repo["name"],
                        "repositoryLocationName": repo["location"]["name"]}
            resources = graphql(port, RESOURCES, {"repo": selector})
            results = resources["allTopLevelResourceDetailsOrError"]["results"]
            assert {"postgres", "object_store", "ai"} <= {r["name"] for r in results}
            seen.append(json.dumps(results))
            ig_ops = next(r for r in results if r["name"] == "ig_ops")
            # the key nested in the IG resources shows as the variable's name
            assert "LOMBA_ENCRYPTION_KEY" in json.dumps(ig_ops["configuredValues"])
            postgres = next(r for r in results if r["name"] == "postgres")
            configured = {v["key"]: v for v in postgres["configuredValues"]}
            # a visitor sees where the URL comes from, not what it is
            assert configured["database_url"]["type"] == "ENV_VAR"
            assert configured["database_url"]["value"] == "LOMBA_DATABASE_URL"
            for job in repo["jobs"]:
                data = graphql(port, DEFAULT_YAML, {"selector": {**selector, "pipelineName": job["name"]}})
                schema = data["runConfigSchemaOrError"]
                if schema["__typename"] == "RunConfigSchema":
                    seen.append(schema["rootDefaultYaml"])
        seen.append(graphql(port, INSTANCE)["instance"]["info"] or "")

    everything = "\n".join(seen)
    assert "LOMBA_DATABASE_URL" in everything  # the pages were really read
    leaked = [marker for marker in markers if marker in everything]
    assert leaked == [], f"secrets shown by the Dagster UI: {leaked}"


def test_the_generated_development_key_is_not_in_any_resource_config(settings):
    """Without LOMBA_ENCRYPTION_KEY the key is generated under LOMBA_HOME: the resources hold
    the file's path, never the key (the UI shows resource config to any visitor)."""
    from lomba_pipeline.definitions import build_resources

    assert settings.encryption_key_env is None
    resources = build_resources(settings)
    key = (settings.home / "encryption.key").read_text().strip()
    dumped = json.dumps({name: r.model_dump() for name, r in resources.items()}, default=str)
    assert str(settings.home / "encryption.key") in dumped
    assert key not in dumped
