"""A synthetic, deterministic corpus of news-like articles with page clutter around them."""

from __future__ import annotations

import random
from pathlib import Path

COUNTRIES = ["Iran", "Russia", "Turkey", "India", "China", "Serbia", "Egypt", "Brazil", "Kenya",
             "Vietnam", "Poland", "Norway", "Chile", "Peru", "Ghana", "Japan", "Mexico", "Qatar"]
CITIES = ["Tehran", "Moscow", "Ankara", "Delhi", "Beijing", "Belgrade", "Cairo", "Brasilia",
          "Nairobi", "Hanoi", "Warsaw", "Oslo", "Santiago", "Lima", "Accra", "Tokyo", "Doha"]
THINGS = ["air defense systems", "fighter jets", "naval drones", "radar stations", "tanks",
          "patrol boats", "helicopters", "artillery units", "satellites", "power plants",
          "wheat shipments", "gas turbines", "rail cars", "solar farms", "vaccine doses"]
ORGS = ["the defense ministry", "the state arms exporter", "the energy ministry",
        "the foreign ministry", "a parliamentary committee", "the central bank",
        "the trade council", "the national railway", "the port authority"]
PEOPLE = ["Anna Petrova", "Omar Haddad", "Li Wei", "Carlos Mendes", "Amara Okafor",
          "Nguyen Van An", "Piotr Nowak", "Ingrid Berg", "Yuki Tanaka", "Sofia Rojas"]
VERBS = ["signed", "delivered", "ordered", "announced", "approved", "postponed", "cancelled"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
CLUTTER = ["[Home](#)", "[World](#)", "[Business](#)", "[Sport](#)", "Share", "Subscribe",
           "Recent Posts", "2 hours ago", "Log in or register to comment", "All rights reserved"]


def article(rng: random.Random, i: int) -> str:
    a, b = rng.sample(COUNTRIES, 2)
    thing = rng.choice(THINGS)
    title = f"{a} and {b} agree on {thing} deal"
    paras = []
    for _ in range(rng.randint(7, 11)):
        sentences = []
        for _ in range(rng.randint(1, 3)):
            n = rng.randint(2, 900)
            sentences.append(rng.choice([
                f"{a} {rng.choice(VERBS)} {n} {rng.choice(THINGS)} from {b} on "
                f"{rng.choice(DAYS)}, {rng.choice(ORGS)} in {rng.choice(CITIES)} said.",
                f"The contract, worth ${n} million, was {rng.choice(VERBS)} in "
                f"{rng.randint(1995, 2025)} after talks in {rng.choice(CITIES)}.",
                f"{rng.choice(PEOPLE)}, a spokesperson for {rng.choice(ORGS)}, told reporters "
                f"that deliveries of {thing} would continue despite objections from "
                f"{rng.choice(COUNTRIES)}.",
                f"Analysts in {rng.choice(CITIES)} said the {thing} could change the balance in "
                f"the region, while {rng.choice(ORGS)} declined to comment on the {n} units.",
            ]))
        paras.append(" ".join(sentences))
    top = rng.sample(CLUTTER[:4], 3)
    bottom = ["Recent Posts"] + [f"{rng.choice(COUNTRIES)} {rng.choice(VERBS)} new "
                                 f"{rng.choice(THINGS)} plan" for _ in range(4)] + ["Share"]
    return "\n\n".join([*top, title, *paras, *bottom]) + "\n"


def write_corpus(folder: Path, n: int, seed: int = 7) -> list[Path]:
    """``n`` articles in ``folder`` (created); the same seed gives the same files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        path = folder / f"article_{i:05d}.txt"
        path.write_text(article(rng, i), encoding="utf-8")
        paths.append(path)
    return paths


def questions(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [f"How many {rng.choice(THINGS)} did {rng.choice(COUNTRIES)} get from "
            f"{rng.choice(COUNTRIES)}?" for _ in range(n)]
