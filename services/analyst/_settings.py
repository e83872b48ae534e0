"""The analyst's settings; names of the original design (DEEPSEEK_*) stay valid as aliases.

Its own fields are below; the incidents' settings (``services.incidents.IncidentSettings``) are
composed in, read back typed with ``IncidentSettings.of(settings)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from services.analyst._memory import MemorySettings
from services.incidents import IncidentSettings
from services.runtime import StageSettings, doc, with_parts

ResponseFormat = Literal["json_object", "json_schema", "json_object_schema", "none"]


class OwnSettings(StageSettings, kw_only=True, frozen=True):
    health_port: Annotated[int, doc("Port of /healthz, /readyz and /metrics; 0 picks a free one")] = 8002
    rules_dir: Annotated[
        str, doc("Directory of extra rule YAML files; a rule with a built-in rule's id replaces it")
    ] = ""
    llm_api_key: Annotated[
        str,
        doc(
            "API key of the OpenAI-compatible provider; empty = rules analyst only",
            aliases=["DEEPSEEK_API_KEY"],
            secret=True,
        ),
    ] = ""
    llm_base_url: Annotated[
        str,
        doc(
            "Base URL of the chat-completions API (OpenAI, Ollama /v1, vLLM, LiteLLM ...)",
            aliases=["DEEPSEEK_API_URL"],
        ),
    ] = "https://api.deepseek.com"
    llm_model: Annotated[str, doc("Model name sent to the provider", aliases=["DEEPSEEK_MODEL"])] = (
        "deepseek-chat"
    )
    llm_timeout: Annotated[float, doc("Seconds one LLM request may take")] = 120.0
    llm_temperature: Annotated[
        float, doc("Sampling temperature; low keeps answers grounded and repeatable (original design: 0.7)")
    ] = 0.2
    llm_max_retries: Annotated[int, doc("Retries of one LLM request on 429, 5xx and timeouts")] = 3
    llm_retry_base_seconds: Annotated[float, doc("First retry delay; doubles each retry, with jitter")] = 1.0
    llm_retry_max_wait_seconds: Annotated[
        float, doc("Longest wait before a retry; a longer Retry-After answers with the rules analyst")
    ] = 60.0
    llm_max_prompt_tokens: Annotated[
        int, doc("Prompt budget; the least informative evidence is dropped first to fit")
    ] = 6000
    llm_max_completion_tokens: Annotated[int, doc("Upper bound of the answer's tokens")] = 1200
    llm_concurrency: Annotated[int, doc("LLM calls at once per replica; 0 = MAX_IN_FLIGHT")] = 0
    llm_rpm: Annotated[int, doc("LLM requests per minute per replica; 0 = unlimited")] = 0
    llm_response_format: Annotated[
        ResponseFormat,
        doc(
            "json_object (DeepSeek, OpenAI, most), json_schema (OpenAI, vLLM, Ollama), "
            "json_object_schema (llama-cpp-python's server: JSON mode held to the answer's schema) or none"
        ),
    ] = "json_object"
    llm_anonymize: Annotated[
        bool,
        doc(
            "Replace IPs, hostnames, e-mails, user names and LLM_ANONYMIZE_PATTERNS before the call; "
            "restore them in the answer"
        ),
    ] = False
    llm_anonymize_patterns: Annotated[
        list[str], doc("Extra regexes (comma-separated) whose matches are anonymised")
    ] = msgspec.field(default_factory=list)
    llm_anonymize_k8s_names: Annotated[
        bool,
        doc(
            "With LLM_ANONYMIZE, also replace Kubernetes object names (pods, namespaces, deployments ...) "
            "before the call; off keeps them, as they often name the cause"
        ),
    ] = False
    llm_breaker_failures: Annotated[
        int, doc("Consecutive failed LLM requests that open the circuit breaker")
    ] = 5
    llm_breaker_cooldown_seconds: Annotated[
        float, doc("Seconds the breaker stays open before one probe request")
    ] = 30.0
    llm_daily_tokens: Annotated[
        int,
        doc(
            "Hard cap on the LLM's prompt+completion tokens per UTC day, shared by all replicas "
            "(JetStream key-value); once reached, the rules analyst answers (degraded) until midnight "
            "UTC; 0 = no cap"
        ),
    ] = 0
    llm_budget_bucket: Annotated[str, doc("Key-value bucket of the daily token count")] = "aiops-llm-budget"
    analysis_cache: Annotated[
        bool, doc("Reuse one LLM analysis per firing episode (JetStream key-value); rules need no cache")
    ] = True
    analysis_cache_bucket: Annotated[str, doc("Key-value bucket of the episode cache")] = "aiops-analyses"
    analysis_cache_ttl_hours: Annotated[float, doc("How long an episode's analysis is kept")] = 168.0

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_api_key)


if TYPE_CHECKING:
    AnalystSettings = OwnSettings
else:
    AnalystSettings = with_parts("AnalystSettings", OwnSettings, [IncidentSettings, MemorySettings])
