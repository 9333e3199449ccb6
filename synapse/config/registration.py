"""The ``registration`` section: who may register, passwords, guests, and the secrets that go with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synapse.config._base import (
    Config,
    ConfigError,
    abspath,
    quote_yaml,
    random_string,
    read_bool,
    read_dict,
    read_int,
    read_list,
    read_optional_duration,
    read_optional_str,
    read_str,
    read_str_list,
)

OPEN_REGISTRATION_ERROR = """\
You have enabled open registration without any verification. This is a known vector
for spam and abuse. If you would like to allow public registration, please consider
adding email, captcha, or token-based verification. Otherwise this check can be removed
by setting the `enable_registration_without_verification` config option to `true`."""


class RegistrationConfig(Config):
    """Registration, login passwords, guest access, auto-joined rooms and the form/macaroon secrets."""

    section = "registration"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.enable_registration = read_bool(config, "enable_registration", False)
        self.enable_registration_without_verification = read_bool(
            config, "enable_registration_without_verification", False
        )
        self.registration_requires_token = read_bool(config, "registration_requires_token", False)
        self.registrations_require_3pid = read_str_list(config, "registrations_require_3pid")
        self.allowed_local_3pids = read_list(config, "allowed_local_3pids")
        self.enable_3pid_lookup = read_bool(config, "enable_3pid_lookup", True)
        self.disable_msisdn_registration = read_bool(config, "disable_msisdn_registration", False)
        self.default_identity_server = read_optional_str(config, "default_identity_server")
        self.inhibit_user_in_use_error = read_bool(config, "inhibit_user_in_use_error", False)
        self.allow_guest_access = read_bool(config, "allow_guest_access", False)

        captcha = read_bool(config, "enable_registration_captcha", False)
        if (
            self.enable_registration
            and not self.enable_registration_without_verification
            and not self.registrations_require_3pid
            and not self.registration_requires_token
            and not captcha
        ):
            raise ConfigError(OPEN_REGISTRATION_ERROR, ["enable_registration"])

        self.registration_shared_secret = read_optional_str(config, "registration_shared_secret")
        secret_path = read_optional_str(config, "registration_shared_secret_path")
        if secret_path:
            if self.registration_shared_secret:
                raise ConfigError(
                    "registration_shared_secret and registration_shared_secret_path cannot both be set",
                    ["registration_shared_secret_path"],
                )
            try:
                with open(abspath(secret_path, config_dir_path)) as f:
                    self.registration_shared_secret = f.read().strip()
            except OSError as e:
                raise ConfigError(
                    f"cannot read {secret_path}: {e.strerror}", ["registration_shared_secret_path"]
                )

        self.bcrypt_rounds = read_int(config, "bcrypt_rounds", 12, minimum=4)

        password_config = read_dict(config, "password_config")
        ppath = ["password_config"]
        enabled = password_config.get("enabled", True)
        if enabled == "only_for_reauth":
            self.password_enabled_for_login = False
            self.password_enabled_for_reauth = True
        else:
            self.password_enabled_for_login = read_bool(password_config, "enabled", True, ppath)
            self.password_enabled_for_reauth = self.password_enabled_for_login
        self.password_enabled = self.password_enabled_for_login
        self.password_localdb_enabled = read_bool(password_config, "localdb_enabled", True, ppath)
        self.password_pepper = read_str(password_config, "pepper", "", ppath)
        policy = read_dict(password_config, "policy", ppath)
        polpath = [*ppath, "policy"]
        self.password_policy_enabled = read_bool(policy, "enabled", False, polpath)
        self.password_policy: dict[str, Any] = {
            "minimum_length": read_int(policy, "minimum_length", 0, polpath, minimum=0),
            "require_digit": read_bool(policy, "require_digit", False, polpath),
            "require_symbol": read_bool(policy, "require_symbol", False, polpath),
            "require_lowercase": read_bool(policy, "require_lowercase", False, polpath),
            "require_uppercase": read_bool(policy, "require_uppercase", False, polpath),
        }

        self.macaroon_secret_key = read_optional_str(config, "macaroon_secret_key")
        self.form_secret = read_optional_str(config, "form_secret")

        self.auto_join_rooms = read_str_list(config, "auto_join_rooms")
        self.autocreate_auto_join_rooms = read_bool(config, "autocreate_auto_join_rooms", True)
        self.autocreate_auto_join_rooms_federated = read_bool(
            config, "autocreate_auto_join_rooms_federated", True
        )
        self.autocreate_auto_join_room_preset = read_optional_str(
            config, "autocreate_auto_join_room_preset"
        )
        self.auto_join_user_id: str | None = None
        localpart = read_optional_str(config, "auto_join_mxid_localpart")
        if localpart:
            self.auto_join_user_id = f"@{localpart}:{read_str(config, 'server_name', '')}"
        self.auto_join_rooms_for_guests = read_bool(config, "auto_join_rooms_for_guests", True)

        self.session_lifetime = read_optional_duration(config, "session_lifetime")
        self.refreshable_access_token_lifetime = read_optional_duration(
            config, "refreshable_access_token_lifetime"
        )
        self.refresh_token_lifetime = read_optional_duration(config, "refresh_token_lifetime")
        self.nonrefreshable_access_token_lifetime = read_optional_duration(
            config, "nonrefreshable_access_token_lifetime"
        )

    def generate_config_section(
        self,
        config_dir_path: str,
        data_dir_path: str,
        server_name: str,
        generate_secrets: bool = False,
        report_stats: bool | None = None,
        **kwargs: Any,
    ) -> str:
        if generate_secrets:
            secrets = (
                f"registration_shared_secret: {quote_yaml(random_string(50))}\n"
                f"macaroon_secret_key: {quote_yaml(random_string(50))}\n"
                f"form_secret: {quote_yaml(random_string(50))}\n"
            )
        else:
            secrets = "#registration_shared_secret: <a long random string>\n#macaroon_secret_key: <a long random string>\n#form_secret: <a long random string>\n"
        return f"""\
## Registration and passwords ##

# Let anyone register an account. Open registration also needs a verification
# (registrations_require_3pid, registration_requires_token, a captcha) or
# enable_registration_without_verification: true.
#enable_registration: false
#enable_registration_without_verification: false
#registration_requires_token: false

# Lets the admin API and register_new_matrix_user create accounts.
# The macaroon key signs login tokens; the form secret signs forms.
{secrets}
# The cost of password hashing.
#bcrypt_rounds: 12

#password_config:
#  enabled: true
#  pepper: ""
#  policy:
#    enabled: false
#    minimum_length: 0

# Let guests use the server without registering.
#allow_guest_access: false

# Rooms every new user joins.
#auto_join_rooms:
#  - "#example:{server_name}"
"""


class CaptchaConfig(Config):
    """reCAPTCHA for registration."""

    section = "captcha"

    def read_config(
        self, config: Mapping[str, Any], config_dir_path: str, data_dir_path: str
    ) -> None:
        self.enable_registration_captcha = read_bool(config, "enable_registration_captcha", False)
        self.recaptcha_public_key = read_optional_str(config, "recaptcha_public_key")
        self.recaptcha_private_key = read_optional_str(config, "recaptcha_private_key")
        self.recaptcha_siteverify_api = read_str(
            config, "recaptcha_siteverify_api", "https://www.recaptcha.net/recaptcha/api/siteverify"
        )
        if self.enable_registration_captcha and not (
            self.recaptcha_public_key and self.recaptcha_private_key
        ):
            raise ConfigError(
                "enable_registration_captcha needs recaptcha_public_key and recaptcha_private_key",
                ["enable_registration_captcha"],
            )
