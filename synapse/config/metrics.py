"""The ``metrics`` section: Prometheus metrics and phone-home statistics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse.config._base import Config, read_bool, read_int, read_optional_str, read_str


class MetricsConfig(Config):
    """``enable_metrics``, ``report_stats`` and ``report_stats_endpoint``."""

    section = "metrics"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.enable_metrics = read_bool(config, "enable_metrics", False)
        self.report_stats = read_bool(config, "report_stats", False)
        self.report_stats_endpoint = read_str(
            config, "report_stats_endpoint", "https://matrix.org/report-usage-stats/push"
        )
        # The old way to ask for a metrics listener, before listeners of type metrics.
        self.metrics_port = read_int(config, "metrics_port", None)
        self.metrics_bind_host = read_optional_str(config, "metrics_bind_host") or "0.0.0.0"
        self.enable_legacy_metrics = read_bool(config, "enable_legacy_metrics", False)

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        if report_stats is None:
            stats = "#report_stats: false"
        else:
            stats = f"report_stats: {'true' if report_stats else 'false'}"
        return f"""\
## Metrics and statistics ##

# Serve Prometheus metrics on the listeners with a 'metrics' resource.
#enable_metrics: false

# Send anonymous usage statistics to matrix.org.
{stats}
"""
