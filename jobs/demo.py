"""Deterministic demo / benchmark data: the order book of a Brazilian food distributor.

``generate_book`` returns JSON-ready payload lists (dates as ISO strings) under the keys
``products``, ``stock``, ``receipts``, ``orders``, ``sales`` and ``supplier_offers``, in
the item shapes of ``docs/contracts.md``. Pure and stdlib only: the same arguments give
the same output (one ``random.Random(seed)``; the clock is read only when ``as_of`` is
omitted). Supply is calibrated against demand so that some orders are fine, some partially
short and some critical; a customer name and a product name carry HTML markup on purpose
(pages must render them as text).
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta

# code, name, unit, sale price (BRL)
PRODUCTS = [
    ("ARZ-T1-5KG", "Arroz Tipo 1 5kg", "un", 27.90),
    ("ARZ-PB-1KG", "Arroz Parboilizado 1kg", "un", 6.49),
    ("FJC-1KG", "Feijão Carioca 1kg", "un", 8.99),
    ("FJP-1KG", "Feijão Preto 1kg", "un", 9.49),
    ("OLS-900", "Óleo de Soja 900ml", "un", 7.79),
    ("BIS-REC-140", "Biscoito <b>Recheado</b> Chocolate 140g", "un", 2.99),
    ("ACC-5KG", "Açúcar Cristal 5kg", "un", 22.90),
    ("ACR-1KG", "Açúcar Refinado 1kg", "un", 5.49),
    ("CAF-500", "Café Torrado 500g", "un", 18.90),
    ("LEI-UHT-1L", "Leite UHT Integral 1L", "cx", 59.90),
    ("FTR-1KG", "Farinha de Trigo 1kg", "un", 5.29),
    ("MAC-ESP-500", "Macarrão Espaguete 500g", "un", 4.49),
    ("QJ-MUS", "Queijo Mussarela", "kg", 39.90),
    ("PRS-COZ", "Presunto Cozido", "kg", 32.90),
    ("MTG-200", "Manteiga 200g", "un", 12.90),
    ("SAL-1KG", "Sal Refinado 1kg", "un", 2.79),
    ("FMD-1KG", "Farinha de Mandioca 1kg", "un", 7.49),
    ("FUB-1KG", "Fubá Mimoso 1kg", "un", 4.29),
    ("EXT-TOM-340", "Extrato de Tomate 340g", "un", 4.99),
    ("MOL-TOM-340", "Molho de Tomate 340g", "un", 3.49),
    ("MAI-500", "Maionese 500g", "un", 9.90),
    ("VIN-750", "Vinagre de Álcool 750ml", "un", 3.29),
    ("AZT-500", "Azeite de Oliva Extra Virgem 500ml", "un", 39.90),
    ("SAR-125", "Sardinha em Lata 125g", "un", 6.99),
    ("ATM-170", "Atum Ralado 170g", "un", 9.49),
    ("LCD-395", "Leite Condensado 395g", "un", 6.79),
    ("CRL-200", "Creme de Leite 200g", "un", 3.99),
    ("ACH-400", "Achocolatado em Pó 400g", "un", 8.49),
    ("MRG-500", "Margarina 500g", "un", 8.99),
    ("REQ-200", "Requeijão Cremoso 200g", "un", 7.99),
    ("IOG-170", "Iogurte Natural 170g", "un", 2.89),
    ("MRT-KG", "Mortadela", "kg", 19.90),
    ("LTS-KG", "Linguiça Toscana", "kg", 24.90),
    ("FRG-PEI-KG", "Peito de Frango Congelado", "kg", 21.90),
    ("CMO-KG", "Carne Moída Congelada", "kg", 34.90),
    ("SLS-KG", "Salsicha", "kg", 14.90),
    ("BCN-KG", "Bacon em Manta", "kg", 36.90),
    ("OVO-DZ", "Ovos Brancos Dúzia", "un", 11.90),
    ("PAO-FRM-500", "Pão de Forma 500g", "un", 8.49),
    ("BIS-CRC-400", "Biscoito Cream Cracker 400g", "un", 5.99),
    ("BIS-MAI-400", "Biscoito Maisena 400g", "un", 5.49),
    ("REF-COL-2L", "Refrigerante Cola 2L", "un", 9.99),
    ("AGM-500", "Água Mineral 500ml", "fd", 14.90),
    ("SUC-LAR-1L", "Suco de Laranja Integral 1L", "cx", 89.90),
    ("CRV-PIL-350", "Cerveja Pilsen Lata 350ml", "fd", 42.90),
    ("DET-500", "Detergente Líquido 500ml", "cx", 54.90),
    ("SBP-1KG", "Sabão em Pó 1kg", "un", 13.90),
    ("PHG-12", "Papel Higiênico 12 Rolos", "fd", 19.90),
    ("AGS-2L", "Água Sanitária 2L", "un", 6.49),
    ("AMI-500", "Amido de Milho 500g", "un", 6.99),
    ("AVE-250", "Aveia em Flocos 250g", "un", 5.99),
    ("FRM-PO-100", "Fermento em Pó 100g", "un", 4.49),
    ("LNT-500", "Lentilha 500g", "un", 9.99),
    ("GBC-500", "Grão de Bico 500g", "un", 11.90),
    ("MVC-200", "Milho Verde em Conserva 200g", "un", 4.79),
    ("PLM-300", "Palmito em Conserva 300g", "un", 16.90),
    ("CHO-LEI-90", "Chocolate ao Leite 90g", "un", 5.99),
    ("TMP-300", "Tempero Completo 300g", "un", 6.29),
    ("ALH-KG", "Alho Descascado", "kg", 29.90),
    ("CBL-KG", "Cebola", "kg", 4.99),
]
# label, code suffix, pack multiplier, unit — used when more products than PRODUCTS are asked
VARIANTS = [
    ("Cx 6", "CX6", 6, "cx"),
    ("Cx 12", "CX12", 12, "cx"),
    ("Fardo 10", "FD10", 10, "fd"),
    ("Fardo 20", "FD20", 20, "fd"),
    ("Display 24", "DP24", 24, "cx"),
    ("Leve 3", "L3", 3, "un"),
    ("Atacado 50", "AT50", 50, "un"),
    ("Pallet 60", "PL60", 60, "un"),
]
CUSTOMERS = [
    "Supermercado Bom Preço",
    "Padaria São João",
    "Restaurante Sabor Mineiro",
    "Mercadinho Dona Maria",
    "Atacadão Nordeste",
    "Supermercado Pague Menos",
    "Padaria Pão Dourado",
    "Restaurante Fogão a Lenha",
    "Lanchonete Esquina do Sabor",
    "Hotel Praia Azul",
    "Cantina da Nonna",
    "Supermercado Família Silva",
    "Empório Santa Luzia",
    "Pizzaria Forno de Minas",
    "Churrascaria Gaúcha",
    "Mercearia Estrela",
    "Hospital São Lucas",
    "Escola Municipal Monteiro Lobato",
    "Bar do Zé",
    "Confeitaria Doce Encanto",
    "Mercado Central Ltda",
    "Restaurante Tempero Baiano",
    "Padaria Nossa Senhora Aparecida",
    "Sacolão Hortifruti Verde",
    "Supermercado Irmãos Oliveira",
    "Restaurante Panela de Barro",
]
MARKUP_CUSTOMER = "Mercado <img src=x onerror=alert(1)> Teste"
SUPPLIERS = [
    "Distribuidora Atlântico",
    "Cerealista Paraná",
    "Laticínios Serra Verde",
    "Frigorífico Vale do Sul",
    "Atacado Rio Grande",
    "Alimentos Boa Safra",
    "Comercial Nordeste Foods",
    "Indústria Paulista de Alimentos",
]
SHIP_CLASSES = [("past_due", 0.15), ("this_week", 0.35), ("next_week", 0.30), ("none", 0.20)]
LINE_QTY = {"un": (1, 48), "cx": (1, 20), "fd": (1, 15), "kg": (1, 30)}
COVERAGE = [((1.2, 1.8), 0.45), ((0.6, 0.95), 0.35), ((0.05, 0.45), 0.20)]  # supply / demand


def _ean13(body12: str) -> str:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def _qty(unit: str, value: float) -> float | int:
    return round(value, 3) if unit == "kg" else round(value)


def _make_products(rng: random.Random, count: int) -> list[dict]:
    out = []
    for i in range(count):
        code, name, unit, price = PRODUCTS[i % len(PRODUCTS)]
        cycle = i // len(PRODUCTS)
        if cycle:
            label, suffix, mult, unit = VARIANTS[(cycle - 1) % len(VARIANTS)]
            rep = (cycle - 1) // len(VARIANTS)
            code, name = f"{code}-{suffix}", f"{name} ({label})"
            if rep:
                code, name = f"{code}-{rep + 1}", f"{name} #{rep + 1}"
            price = round(price * mult * 0.95, 2)
        weight = rng.lognormvariate(0, 0.8)  # popularity: a few products dominate
        out.append({"code": code, "name": name, "unit": unit, "price": price, "weight": weight})
    return out


def _make_aliases(rng: random.Random, products: list[dict]) -> dict[str, list[str]]:
    """About 8 alternate codes (EAN-13 or an old code), each for a canonical product."""
    picked = sorted(rng.sample(range(len(products)), min(8, len(products) // 2)))
    aliases: dict[str, list[str]] = {}
    for n, i in enumerate(picked):
        alias = _ean13(f"7891234{i:05d}") if n % 2 == 0 else f"ANT-{1000 + i}"
        aliases.setdefault(products[i]["code"], []).append(alias)
    return aliases


def _ship_date(rng: random.Random, cls: str, as_of: date) -> date | None:
    offset = {"past_due": (-10, -1), "this_week": (0, 6), "next_week": (7, 13)}.get(cls)
    return as_of + timedelta(days=rng.randint(*offset)) if offset else None


def _make_orders(rng, products, aliases, count, lines, as_of) -> list[dict]:
    counts = [round(count * share) for _, share in SHIP_CLASSES]
    if count >= len(SHIP_CLASSES):
        counts = [max(1, c) for c in counts]
    counts[1] += count - sum(counts)
    classes = [cls for (cls, _), n in zip(SHIP_CLASSES, counts, strict=True) for _ in range(n)]
    rng.shuffle(classes)
    weights = [p["weight"] for p in products]
    start = datetime.combine(as_of, time(0, 0))
    orders = []
    for i, cls in enumerate(classes):
        ship = _ship_date(rng, cls, as_of)
        min_days = (as_of - ship).days if ship and ship < as_of else 0
        back = timedelta(days=rng.randint(min_days + 1, 30))  # created before a past ship date
        created = start - back + timedelta(hours=8, minutes=rng.randint(0, 600))
        order_lines = []
        for p in rng.choices(products, weights, k=rng.randint(*lines)):
            lo, hi = LINE_QTY[p["unit"]]
            qty = rng.uniform(lo, hi) if p["unit"] == "kg" else rng.randint(lo, hi)
            code = p["code"]
            if code in aliases and rng.random() < 0.2:  # some lines use an alternate code
                code = rng.choice(aliases[code])
            price = round(p["price"] * rng.uniform(0.92, 1.12), 2)
            order_lines.append({"product": code, "qty": _qty(p["unit"], qty), "unit_price": price})
        orders.append(
            {
                "number": f"PV-{i + 1:06d}",
                "customer": MARKUP_CUSTOMER if i == count // 3 else rng.choice(CUSTOMERS),
                "ship_date": ship.isoformat() if ship else None,
                "priority": rng.choices([0, 1, 2], [85, 10, 5])[0],
                "created_at": created.isoformat(timespec="seconds"),
                "status": "open",
                "lines": order_lines,
            }
        )
    return orders


def _demand(orders: list[dict], aliases: dict[str, list[str]]) -> dict[str, float]:
    canonical = {a: code for code, alist in aliases.items() for a in alist}
    demand: dict[str, float] = {}
    for order in orders:
        for line in order["lines"]:
            code = canonical.get(line["product"], line["product"])
            demand[code] = demand.get(code, 0) + line["qty"]
    return demand


def _make_supply(rng, products, aliases, demand, as_of) -> tuple[list[dict], list[dict]]:
    """Stock and receipts per product, sized as a fraction of the product's open demand."""
    n = len(products)
    special = rng.sample(range(n), min(n, 5))
    zero, negative = set(special[:3]), set(special[3:5])
    stock, receipts = [], []
    ranges, shares = zip(*COVERAGE, strict=True)
    for i, p in enumerate(products):
        lo, hi = rng.choices(ranges, shares)[0]
        need = demand.get(p["code"], 0) or rng.uniform(5, 50)
        supply = need * rng.uniform(lo, hi)
        on_hand = 0.0 if i in zero else supply * rng.uniform(0.5, 0.9)
        if i in negative:
            on_hand = -rng.randint(3, 20)
        rest = supply - max(on_hand, 0)
        parts = rng.choice([1, 2, 3]) if rest > 1 and (i in zero or rng.random() < 0.7) else 0
        if not parts:
            on_hand += max(rest, 0) if i not in negative else 0
        stock.append({"product": p["code"], "on_hand": _qty(p["unit"], on_hand)})
        for _ in range(parts):
            qty = _qty(p["unit"], max(rest / parts, 1))
            code = p["code"]
            if code in aliases and rng.random() < 0.3:
                code = aliases[code][0]
            day = as_of + timedelta(days=rng.randint(0, 21))
            kind = rng.choices(["purchase", "production"], [3, 1])[0]
            receipts.append({"product": code, "date": day.isoformat(), "qty": qty, "kind": kind})
    receipts.sort(key=lambda r: (r["date"], r["product"], r["kind"], r["qty"]))
    receipts = [{"id": f"R-{k + 1:05d}", **r} for k, r in enumerate(receipts)]
    return stock, receipts


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.normalvariate(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _pattern(i: int) -> str:
    """Sales pattern by product index: half smooth, a quarter erratic, a quarter intermittent."""
    return ("smooth", "smooth", "erratic", "intermittent")[i % 4]


def _make_sales(rng, products, demand, as_of) -> list[dict]:
    """90 days of daily sales before as_of; zero days are omitted."""
    candidates = [i for i in range(len(products)) if _pattern(i) != "intermittent"]
    short = set(rng.sample(candidates, min(3, len(candidates) // 5)))
    sales = []
    for i, p in enumerate(products):
        pattern = _pattern(i)
        mean = max(3.0, demand.get(p["code"], 0) / 21 * rng.uniform(0.6, 1.4))
        p_sale = rng.uniform(0.1, 0.3)
        days = 10 if i in short else 90
        for back in range(days, 0, -1):
            if pattern == "smooth":
                qty = _poisson(rng, mean)
            elif pattern == "erratic":
                qty = _poisson(rng, max(mean, 5.0) * rng.gammavariate(0.6, 1 / 0.6))
                qty *= rng.randint(4, 8) if rng.random() < 0.04 else 1
            else:
                qty = 1 + _poisson(rng, mean / p_sale) if rng.random() < p_sale else 0
            if back == days and days < 90:
                qty = max(qty, 1)  # short history starts with a sale
            if qty > 0:
                day = (as_of - timedelta(days=back)).isoformat()
                sales.append({"product": p["code"], "date": day, "qty": qty})
    return sales


def _make_offers(rng, products) -> list[dict]:
    n = len(products)
    without = set(rng.sample(range(n), min(n // 2, max(1, n // 20))))
    offers = []
    for i, p in enumerate(products):
        if i in without:
            continue
        for supplier in sorted(rng.sample(SUPPLIERS, rng.randint(1, 3))):
            offers.append(
                {
                    "supplier": supplier,
                    "product": p["code"],
                    "unit_price": round(p["price"] * rng.uniform(0.55, 0.85), 2),
                    "lead_time_days": rng.randint(2, 30),
                    "min_qty": rng.choice([0, 50, 100]),
                    "multiple": rng.choice([1, 6, 12, 24]),
                }
            )
    return offers


def generate_book(
    seed: int = 42,
    orders: int = 300,
    products: int = 60,
    lines: tuple[int, int] = (1, 8),
    as_of: date | None = None,
) -> dict[str, list[dict]]:
    """A deterministic order book: payload lists keyed by kind (see module docstring)."""
    if orders < 0 or products < 1 or not 1 <= lines[0] <= lines[1]:
        raise ValueError("need orders >= 0, products >= 1 and 1 <= lines[0] <= lines[1]")
    as_of = as_of or date.today()
    rng = random.Random(seed)
    prods = _make_products(rng, products)
    aliases = _make_aliases(rng, prods)
    book_orders = _make_orders(rng, prods, aliases, orders, lines, as_of)
    demand = _demand(book_orders, aliases)
    stock, receipts = _make_supply(rng, prods, aliases, demand, as_of)
    return {
        "products": [
            {
                "code": p["code"],
                "name": p["name"],
                "unit": p["unit"],
                "aliases": aliases.get(p["code"], []),
            }
            for p in prods
        ],
        "stock": stock,
        "receipts": receipts,
        "orders": book_orders,
        "sales": _make_sales(rng, prods, demand, as_of),
        "supplier_offers": _make_offers(rng, prods),
    }
