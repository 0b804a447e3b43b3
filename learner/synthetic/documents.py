"""A seeded generator of short business documents with drift knobs.

Six document types. Before drift every document uses one of the long-standing English
templates; drift brings in new vendor templates (other phrasing for the same type) and other
languages (German and French phrasing), so that a classifier trained before the drift sees its
accuracy drop on what arrives after it.

>>> gen = DocumentGenerator(seed=7)
>>> docs = gen.generate(3)
>>> [d.language.value for d in docs]
['en', 'en', 'en']
>>> docs == DocumentGenerator(seed=7).generate(3)
True
>>> drifted = DocumentGenerator(seed=7, drift=DriftProfile.drifted()).generate(200)
>>> {d.language for d in drifted} == set(Language)
True
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["DOCUMENT_TYPES", "Document", "DocumentGenerator", "DriftProfile", "Language"]

DOCUMENT_TYPES: tuple[str, ...] = (
    "invoice",
    "purchase_order",
    "delivery_note",
    "credit_memo",
    "quotation",
    "remittance_advice",
)


class Language(enum.Enum):
    """The language a document is written in."""

    EN = "en"
    DE = "de"
    FR = "fr"


# {vendor} {num} {date} {amount} {item} are filled in; everything else is the template's phrasing.
_CLASSIC: dict[str, tuple[str, ...]] = {
    "invoice": (
        "INVOICE {num} from {vendor}. Invoice date {date}. Amount due {amount} within 30 days.",
        "{vendor} invoice no. {num}: please pay the total due of {amount} by {date}.",
    ),
    "purchase_order": (
        "PURCHASE ORDER {num}. {vendor} orders {item}. Please confirm the order by {date}.",
        "Purchase order {num} issued to {vendor} for {item}, order total {amount}.",
    ),
    "delivery_note": (
        "DELIVERY NOTE {num}. {vendor} delivered {item} on {date}. Received in good condition.",
        "Delivery note {num}: shipment of {item} delivered by {vendor}, sign on receipt.",
    ),
    "credit_memo": (
        "CREDIT MEMO {num}. {vendor} credits {amount} for returned {item}.",
        "Credit memo {num} dated {date}: a credit of {amount} applied for {item}.",
    ),
    "quotation": (
        "QUOTATION {num}. {vendor} quotes {amount} for {item}, quote valid until {date}.",
        "Our quotation {num} for {item}: quoted price {amount}, offer expires {date}.",
    ),
    "remittance_advice": (
        "REMITTANCE ADVICE {num}. {vendor} has paid {amount} on {date} for your invoices.",
        "Remittance advice {num}: payment of {amount} sent to {vendor}, see attached list.",
    ),
}

_NEW_VENDOR: dict[str, tuple[str, ...]] = {
    "invoice": ("Statement of charges {num} | {vendor} | kindly remit {amount} before {date}",),
    "purchase_order": ("Procurement request {num} | authorised buyer {vendor} | supply {item}",),
    "delivery_note": ("Packing slip {num} | consignment of {item} dispatched {date} | {vendor}",),
    "credit_memo": ("Refund adjustment {num} | {amount} returned to your account | {vendor}",),
    "quotation": ("Price estimate {num} | proposal for {item} | {amount} | expires {date}",),
    "remittance_advice": ("Funds transferred {num} | {vendor} settled {amount} on {date}",),
}

_FOREIGN: dict[Language, dict[str, tuple[str, ...]]] = {
    Language.DE: {
        "invoice": ("Rechnung Nr. {num} von {vendor}. Rechnungsbetrag {amount}, zahlbar bis {date}.",),
        "purchase_order": ("Bestellung Nr. {num}. Wir bestellen bei {vendor}: {item}. Bitte bestätigen.",),
        "delivery_note": ("Lieferschein Nr. {num}. Ware {item} geliefert am {date} durch {vendor}.",),
        "credit_memo": ("Gutschrift Nr. {num}. Wir schreiben Ihnen {amount} gut für Rücksendung {item}.",),
        "quotation": ("Angebot Nr. {num}. Unverbindliches Angebot über {amount} für {item}, gültig bis {date}.",),
        "remittance_advice": ("Zahlungsavis Nr. {num}. Überweisung von {amount} an {vendor} am {date}.",),
    },
    Language.FR: {
        "invoice": ("Facture n° {num} de {vendor}. Montant à payer {amount} avant le {date}.",),
        "purchase_order": ("Bon de commande n° {num}. Nous commandons chez {vendor} : {item}.",),
        "delivery_note": ("Bon de livraison n° {num}. Marchandise {item} livrée le {date} par {vendor}.",),
        "credit_memo": ("Avoir n° {num}. Nous vous créditons {amount} pour le retour de {item}.",),
        "quotation": ("Devis n° {num}. Proposition de prix {amount} pour {item}, valable jusqu'au {date}.",),
        "remittance_advice": ("Avis de paiement n° {num}. Virement de {amount} à {vendor} le {date}.",),
    },
}

_VENDORS = (
    "Acme GmbH", "Nordwind AG", "Blue River Ltd", "Société Lumière", "Kestrel Supplies",
    "Orion Parts", "Muller & Sohn", "Atlas Office", "Verdant SARL", "Pinecrest Inc",
)
_ITEMS = (
    "20 office chairs", "steel bolts M8", "printer toner", "3 pallets of paper",
    "laptop docking stations", "safety gloves", "LED panels", "hydraulic hoses",
)


@dataclass(frozen=True)
class DriftProfile:
    """How far the generated stream has drifted from the classic English templates.

    ``foreign_share`` of documents are German or French (half each); of the rest,
    ``new_template_share`` use a new vendor's template.
    """

    foreign_share: float = 0.0
    new_template_share: float = 0.0

    def __post_init__(self) -> None:
        errors = [
            f"{name} must be in [0, 1], got {value!r}"
            for name, value in (("foreign_share", self.foreign_share),
                                ("new_template_share", self.new_template_share))
            if not 0.0 <= value <= 1.0
        ]
        if errors:
            raise ValueError("invalid DriftProfile: " + "; ".join(errors))

    @classmethod
    def drifted(cls) -> DriftProfile:
        """The drift used by tests and the demo: mostly German/French plus new templates."""
        return cls(foreign_share=0.8, new_template_share=1.0)


@dataclass(frozen=True)
class Document:
    """One generated document and its true type."""

    text: str
    label: str
    language: Language
    template: str


class DocumentGenerator:
    """Seeded stream of documents; same seed and profile, same documents."""

    def __init__(self, seed: int, drift: DriftProfile | None = None,
                 labels: tuple[str, ...] = DOCUMENT_TYPES) -> None:
        unknown = sorted(set(labels) - set(DOCUMENT_TYPES))
        if unknown or not labels:
            raise ValueError(f"unknown document types {unknown}; known: {DOCUMENT_TYPES}")
        self._rng = random.Random(seed)
        self._drift = drift or DriftProfile()
        self._labels = labels

    def generate(self, n: int) -> list[Document]:
        """``n`` documents with labels drawn uniformly."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return [self._one(self._rng.choice(self._labels)) for _ in range(n)]

    def _one(self, label: str) -> Document:
        rng = self._rng
        if rng.random() < self._drift.foreign_share:
            language = rng.choice((Language.DE, Language.FR))
            template, family = rng.choice(_FOREIGN[language][label]), f"{language.value}"
        elif rng.random() < self._drift.new_template_share:
            language, template, family = Language.EN, rng.choice(_NEW_VENDOR[label]), "new_vendor"
        else:
            language, template, family = Language.EN, rng.choice(_CLASSIC[label]), "classic"
        text = template.format(
            num=f"{rng.randint(1000, 99999)}",
            vendor=rng.choice(_VENDORS),
            date=f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2026",
            amount=f"{rng.randint(10, 50000)}.{rng.randint(0, 99):02d} EUR",
            item=rng.choice(_ITEMS),
        )
        return Document(text=text, label=label, language=language, template=f"{label}/{family}")
