"""The example knowledge base the benchmarks load: six support facts, keyed by point id."""

from __future__ import annotations

FACTS = {
    "refunds": "Refunds are paid to the original payment method within 14 days after we receive the returned item.",
    "shipping": "Shipping is free for orders above 50 euros; smaller orders pay a flat fee of 4.90 euros.",
    "support": "Customer support is available Monday to Friday from 9:00 to 17:00 CET.",
    "returns": "Returns are accepted within 30 days of delivery if the item is unused.",
    "gift-cards": "Gift cards cannot be exchanged for cash.",
    "warranty": "The warranty on electronics lasts two years from the date of purchase.",
}
