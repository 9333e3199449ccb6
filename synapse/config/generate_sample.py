"""Write ``homeserver.yaml.sample``: ``python -m synapse.config.generate_sample [-o FILE]``.

The sample is generated from the config sections, with placeholders for the server
name and directories, so that it always lists every setting the code reads.
"""

from __future__ import annotations

import argparse
import sys

from synapse.config.homeserver import HomeServerConfig

SAMPLE_SERVER_NAME = "SERVERNAME"
SAMPLE_CONFIG_DIR = "CONFDIR"
SAMPLE_DATA_DIR = "DATADIR"


def generate_sample_config() -> str:
    """The text of ``homeserver.yaml.sample``."""
    return HomeServerConfig().generate_config(
        config_dir_path=SAMPLE_CONFIG_DIR,
        data_dir_path=SAMPLE_DATA_DIR,
        server_name=SAMPLE_SERVER_NAME,
        generate_secrets=False,
        report_stats=None,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the sample homeserver config.")
    parser.add_argument("-o", "--output-file", help="Write here instead of to stdout.")
    args = parser.parse_args(argv)
    text = generate_sample_config()
    if args.output_file:
        with open(args.output_file, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
