"""The ``federation`` section: which servers to talk to, how, and how often to retry."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from synapse.config._base import (
    Config,
    read_bool,
    read_dict,
    read_duration,
    read_float,
    read_int,
    read_list,
    read_str_list,
)
from synapse.config.media import parse_ip_networks

# Addresses outbound requests never go to unless whitelisted: loopback, private,
# link-local, shared, documentation, benchmarking, multicast and reserved ranges.
DEFAULT_IP_RANGE_BLACKLIST = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "169.254.0.0/16",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "2001:db8::/32",
    "ff00::/8",
    "fec0::/10",
]

# Always refused, whatever the configuration says.
ALWAYS_BLACKLISTED = ["0.0.0.0/32", "::/128"]


class FederationConfig(Config):
    """``federation_domain_whitelist``, IP range lists, ``send_federation`` and the retry schedule."""

    section = "federation"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.federation_domain_whitelist: dict[str, bool] | None = None
        if config.get("federation_domain_whitelist") is not None:
            self.federation_domain_whitelist = {
                domain: True for domain in read_str_list(config, "federation_domain_whitelist")
            }

        self.federation_verify_certificates = read_bool(
            config, "federation_verify_certificates", True
        )
        self.send_federation = read_bool(config, "send_federation", True)
        self.federation_sender_instances = read_str_list(config, "federation_sender_instances")
        self.allow_public_rooms_over_federation = read_bool(
            config, "allow_public_rooms_over_federation", False
        )
        self.allow_profile_lookup_over_federation = read_bool(
            config, "allow_profile_lookup_over_federation", True
        )
        self.allow_device_name_lookup_over_federation = read_bool(
            config, "allow_device_name_lookup_over_federation", False
        )
        self.federation_metrics_domains = set(read_str_list(config, "federation_metrics_domains"))

        always = [ipaddress.ip_network(r) for r in ALWAYS_BLACKLISTED]
        blacklist = read_str_list(config, "ip_range_blacklist", default=DEFAULT_IP_RANGE_BLACKLIST)
        if config.get("ip_range_blacklist") is None:
            blacklist = list(DEFAULT_IP_RANGE_BLACKLIST)
        self.ip_range_blacklist = parse_ip_networks(blacklist, ["ip_range_blacklist"]) + always
        self.ip_range_whitelist = parse_ip_networks(
            read_str_list(config, "ip_range_whitelist"), ["ip_range_whitelist"]
        )
        # The older federation_ip_range_blacklist, when given, applies to federation
        # (without a whitelist) in place of ip_range_blacklist/whitelist.
        if config.get("federation_ip_range_blacklist") is not None:
            self.federation_ip_range_blacklist = (
                parse_ip_networks(
                    read_str_list(config, "federation_ip_range_blacklist"),
                    ["federation_ip_range_blacklist"],
                )
                + always
            )
            self.federation_ip_range_whitelist: list[Any] = []
        else:
            self.federation_ip_range_blacklist = self.ip_range_blacklist
            self.federation_ip_range_whitelist = self.ip_range_whitelist

        fed = read_dict(config, "federation")
        path = ["federation"]
        self.client_timeout_ms = read_duration(fed, "client_timeout", "60s", path)
        self.max_short_retry_delay_ms = read_duration(fed, "max_short_retry_delay", "2s", path)
        self.max_long_retry_delay_ms = read_duration(fed, "max_long_retry_delay", "60s", path)
        self.max_short_retries = read_int(fed, "max_short_retries", 3, path, minimum=0)
        self.max_long_retries = read_int(fed, "max_long_retries", 10, path, minimum=0)
        self.destination_min_retry_interval_ms = read_duration(
            fed, "destination_min_retry_interval", "10m", path
        )
        self.destination_retry_multiplier = read_float(fed, "destination_retry_multiplier", 2, path)
        self.destination_max_retry_interval_ms = read_duration(
            fed, "destination_max_retry_interval", "7d", path
        )

        self.trusted_third_party_id_servers = read_list(config, "trusted_third_party_id_servers")

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ranges = "\n".join(f"#  - '{r}'" for r in DEFAULT_IP_RANGE_BLACKLIST)
        return f"""\
## Federation ##

# Federate only with these servers (all servers when unset).
#federation_domain_whitelist:
#  - lon.example.com
#  - nyc.example.com

# Outbound requests (federation, push, URL previews) never go to these ranges
# unless listed in ip_range_whitelist. The default:
#ip_range_blacklist:
{ranges}
#ip_range_whitelist: []

# Let other servers read this server's public room directory.
#allow_public_rooms_over_federation: false

# Send events to other servers from this process.
#send_federation: true

# Retries of requests to other servers, and of servers that are down.
#federation:
#  client_timeout: 60s
#  max_short_retry_delay: 2s
#  max_long_retry_delay: 60s
#  max_short_retries: 3
#  max_long_retries: 10
#  destination_min_retry_interval: 10m
#  destination_retry_multiplier: 2
#  destination_max_retry_interval: 7d
"""
