"""One hand-checked example of every kind of PII the built-in detector knows, each inside a sentence."""

from __future__ import annotations

PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----"
)

# (entity, kind, value): every value is valid (its check digits are right).
EXAMPLES: list[tuple[str, str, str]] = [
    ("email", "email", "jane.doe+billing@example.co.uk"),
    ("phone", "phone_US", "(415) 555-2671"),
    ("phone", "phone_US", "415.555.2671"),
    ("phone", "phone_GB", "+44 20 7946 0958"),
    ("phone", "phone_DE", "+49 30 901820"),
    ("phone", "phone_FR", "+33612349153"),
    ("payment_card", "card", "4111 1111 1111 1111"),
    ("payment_card", "card", "5500-0000-0000-0004"),
    ("payment_card", "card", "378282246310005"),
    ("iban", "iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "iban", "GB82WEST12345698765432"),
    ("national_id", "us_ssn", "123-45-6789"),
    ("national_id", "de_idnr", "36574261809"),
    ("national_id", "fr_nir", "2 95 10 99 126 111 93"),
    ("national_id", "es_dni", "12345678Z"),
    ("national_id", "es_nie", "X1234567L"),
    ("national_id", "it_codice_fiscale", "RSSMRA85T10A562S"),
    ("national_id", "nl_bsn", "1112.22.333"),
    ("national_id", "br_cpf", "390.533.447-05"),
    ("national_id", "in_aadhaar", "2345 6789 0124"),
    ("national_id", "pl_pesel", "44051401359"),
    ("ip_address", "ipv4", "192.168.1.20"),
    ("ip_address", "ipv6", "2001:db8::8a2e:370:7334"),
    ("secret", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "github_token", "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2 + "kLmN"[:-4]),
    ("secret", "openai_key", "sk-proj-Zx8q2LmN7vB4pQ9rT1sW6yU3eK5jH0gF"),
    ("secret", "slack_token", "xoxb-1234567890-abcdefghijKLMN"),
    ("secret", "stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("secret", "google_api_key", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("secret", "jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("secret", "high_entropy", "Zx8q2LmN7vB4pQ9rT1sW6yU3eK5jH0gF"),
    ("secret", "private_key", PRIVATE_KEY),
]

# Text that looks like PII and is not.
LOOKALIKES: list[str] = [
    "4111 1111 1111 1112",  # Luhn fails
    "DE88 3704 0044 0532 0130 00",  # IBAN check digits wrong
    "000-12-3456",  # no SSN has area 000
    "2024-03-12",
    "12:30:45",
    "version 1.2.3",
    "$1,234,567.89",
    "8,336,817 people",
    "ISBN 978-3-16-148410-0",
    "commit 3f2a9c1b0e4d5f6a7b8c9d0e1f2a3b4c5d6e7f80",
    "id 123e4567-e89b-12d3-a456-426614174000",
    "hash a14c19499104511cc2d4697e81a8dce1f685da1c",
    "std::vector",
    "127.0.0.1",
    "user@localhost",
    "https://www.example.com/Titans-Curse-Percy-Jackson-Olympians/dp/1423101480",
    "getUserAccountSettingsHandlerFactory",
    "In 1999 there were 365 days",
    "order #48213 of 12 items",
]


def sentence(value: str) -> str:
    """The value inside prose, with non-ASCII text around it (multi-byte characters for the byte-split tests)."""
    return f"Voilà — the value is {value}, noted by Zoë at 10:42 ✓."
