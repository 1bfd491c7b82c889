"""Built-in hierarchy structures, with the source of every count (see rules.md §7).

Each preset is a plain ``hierarchy`` table; keys in a scenario file override it.
"""

from __future__ import annotations

import copy
from typing import Any

SECTORS = ["party", "state", "front"]


def _posts(party: tuple[int, int, int], state: tuple[int, int, int], front: tuple[int, int, int]):
    return {
        name: dict(zip(("head", "deputy", "member"), counts, strict=True))
        for name, counts in (("party", party), ("state", state), ("front", front))
    }


PRESETS: dict[str, dict[str, Any]] = {
    # Pre-2025 four-level structure of the seed texts.
    "historic": {
        "levels": ["central", "provincial", "district", "commune"],
        "sectors": SECTORS,
        # 63 provinces (57 + 6 cities); 696 districts (2021); 10,035 communes (pre-reform)
        # (vietnamnews.vn; nghean24h.vn; baomoi.net.vn; rules.md §7b).
        "units": {"central": 1, "provincial": 63, "district": 696, "commune": 10035},
        # Staff pool below leadership, per unit. [E]: sized so that the national structure holds
        # about a million cadres (the 2022-26 staffing quota is 2.23 M across the whole political
        # system, rules.md §7a).
        "staff": {"central": 5000, "provincial": 1000, "district": 250, "commune": 60},
        "posts": {
            # Central: CC 180 full members, Politburo/Secretariat ~18-19 (rules.md §7a); government
            # deputies <=5 (plo.vn 08/2025); Front presidium [E].
            "central": _posts((1, 10, 170), (1, 5, 30), (1, 5, 10)),
            # Province: 3 deputy secretaries, standing committee 15-17 (Dir. 45); PC vice chairs
            # <=4 class I (Decree 08/2016), 5 suggested (rules.md §9); 14 departments
            # (Decree 150/2025); Front [E].
            "provincial": _posts((1, 3, 12), (1, 5, 14), (1, 3, 2)),
            # District: vice chairs <=3 class I (Decree 08/2016); committee standing members [E].
            "district": _posts((1, 2, 10), (1, 3, 12), (1, 2, 0)),
            # Commune: 2 deputy secretaries (Dir. 45); PC vice chairs <=2 (Decree 08/2016).
            "commune": _posts((1, 2, 4), (1, 2, 0), (1, 1, 0)),
        },
    },
    # Two-tier local government from 1 July 2025 (NA Res. 202/2025).
    "reform2025": {
        "levels": ["central", "provincial", "commune"],
        "sectors": SECTORS,
        # 34 provinces (28 + 6 cities); 3,321 communes, wards and special zones (rules.md §7b).
        "units": {"central": 1, "provincial": 34, "commune": 3321},
        # [E] merged communes are about three times larger; ~250,000 fewer staff after the
        # reform (en.sggp.org.vn, rules.md §7b).
        "staff": {"central": 5000, "provincial": 2500, "commune": 150},
        "posts": {
            "central": _posts((1, 10, 170), (1, 5, 30), (1, 5, 10)),
            # PC vice chairs <=5-8 by province class (Decree 300/2025); departments <=14
            # (Decree 150/2025); 3 deputy secretaries (Nghe An, Thanh Hoa 2025-30).
            "provincial": _posts((1, 3, 13), (1, 5, 14), (1, 3, 2)),
            # Commune committee 27-33, standing 9-11, 2 deputy secretaries (Dir. 45); PC vice
            # chairs average <=2.5 per commune (Decree 300/2025).
            "commune": _posts((1, 2, 8), (1, 3, 4), (1, 2, 1)),
        },
    },
    # A single province for classes and quick runs. [E]
    "teaching": {
        "levels": ["provincial", "district", "commune"],
        "sectors": SECTORS,
        "units": {"provincial": 1, "district": 6, "commune": 48},
        "staff": {"provincial": 200, "district": 60, "commune": 20},
        "posts": {
            "provincial": _posts((1, 3, 8), (1, 4, 8), (1, 2, 1)),
            "district": _posts((1, 2, 4), (1, 2, 4), (1, 1, 0)),
            "commune": _posts((1, 2, 2), (1, 2, 0), (1, 1, 0)),
        },
    },
    "custom": {},
}


def preset_table(name: str) -> dict[str, Any]:
    """A deep copy of the hierarchy table of a preset."""
    return copy.deepcopy(PRESETS[name])


def default_holder_age_mean(levels: list[str]) -> dict[str, float]:
    """Mean holder age by level: 44 at the bottom, +4 per level up, capped at 56. [E]

    Calibration point: provincial secretaries averaged 52.3 years after the 2020 congresses
    (thanhnien.vn, rules.md §8).
    """
    n = len(levels)
    return {lvl: min(56.0, 44.0 + 4.0 * (n - 1 - i)) for i, lvl in enumerate(levels)}


def default_young_age(levels: list[str]) -> dict[str, float]:
    """Young means under 45 at central level and under 40 elsewhere (Reg. 50/2021)."""
    return {lvl: (45.0 if lvl == "central" else 40.0) for lvl in levels}


def _central_committee(central_party_members: int, provincial_chairs: int) -> dict[str, Any]:
    """A Central Committee of the central leaders, part of the central party and state members,
    every provincial secretary and the people's committee chairs of the first provinces; first
    election <=55, re-election <=60, 10 special cases (13th Congress; rules.md §6)."""
    return {
        "label": "Central Committee",
        "posts": [
            "central.party.head",
            "central.party.deputy",
            f"central.party.member:{central_party_members}",
            "central.state.head",
            "central.state.deputy",
            "central.state.member:30",
            "central.front.head",
            "central.front.deputy:1",
            "provincial.party.head",
            f"provincial.state.head@{provincial_chairs}",
        ],
        "first_time_max_age": 55.0,
        "reelect_max_age": 60.0,
        "special_cases": 10,
    }


def _politburo(central_party_members: int) -> dict[str, Any]:
    """The central party head and deputies, the state head and some central party members;
    re-election <=65 (rules.md §6)."""
    return {
        "label": "Politburo",
        "posts": [
            "central.party.head",
            "central.party.deputy",
            "central.state.head",
            f"central.party.member:{central_party_members}",
        ],
        "reelect_max_age": 65.0,
    }


# Provincial standing committees, 15 members each (rules.md §9, 15-17 observed).
PROVINCIAL_STANDING = {
    "label": "provincial standing committees",
    "posts": [
        "provincial.party.head",
        "provincial.party.deputy",
        "provincial.party.member:9",
        "provincial.state.head",
        "provincial.front.head",
    ],
}

#: bodies elected at congress, by preset (rules.md §6, §7a, §8)
BODIES: dict[str, dict[str, Any]] = {
    # 13th CC full members: 109 central and 71 local seats (dantri.com.vn 2026-01-24): 1 + 10 + 60
    # + 1 + 5 + 30 + 1 + 1 central, 63 secretaries + 8 chairs; Politburo 18 (rules.md §7a).
    "historic": {
        "central_committee": _central_committee(60, 8),
        "politburo": _politburo(6),
        "provincial_standing": PROVINCIAL_STANDING,
    },
    # 14th CC full members: 123 central and 57 local seats, all 34 provincial secretaries
    # (dantri.com.vn 2026-01-24; vnexpress); Politburo 19 (rules.md §7a).
    "reform2025": {
        "central_committee": _central_committee(74, 23),
        "politburo": _politburo(7),
        "provincial_standing": PROVINCIAL_STANDING,
    },
    # One province: its standing committee (rules.md §9: 15).
    "teaching": {
        "provincial_standing": {
            "label": "provincial standing committee",
            "posts": [
                "provincial.party.head",
                "provincial.party.deputy",
                "provincial.party.member:6",
                "provincial.state.head",
                "provincial.state.deputy:3",
                "provincial.front.head",
            ],
        },
    },
    "custom": {},
}


def default_bodies(preset: str) -> dict[str, Any]:
    return copy.deepcopy(BODIES.get(preset, {}))


#: holders at the start drawn to the record, by preset (initial.groups; rules.md §8)
START_GROUPS: dict[str, dict[str, Any]] = {
    # 1 January 2021: the provincial secretaries elected at the 2020 provincial congresses and the
    # Central Committee elected at the 13th Congress (January 2021)
    "historic": {
        "provincial_secretaries": {
            "label": "provincial party secretaries, 2020-25",
            "posts": ["provincial.party.head"],
            "female_share": 9 / 63,
            "age_mean": 52.3,
            "below_age": 50.0,
            "share_below_age": 27 / 63,
            "reelected_share": 41 / 63,
            "source": "rules.md §8 (thanhnien.vn; baotintuc.vn): mean age 52.3, 27 of 63 under 50, "
            "9 women, 22 first-time",
        },
        "central_committee": {
            "label": "13th Central Committee, full members",
            "body": "central_committee",
            "female_share": 19 / 200,
            "age_mean": 53.8,
            "source": "rules.md §8 (znews.vn): mean age at election 53.8 and 19 women of 200 "
            "(full members and alternates together)",
        },
    },
    # 1 January 2026: the provincial secretaries of the 34 merged provinces (2025-30) and the full
    # members of the 14th Central Committee
    "reform2025": {
        "provincial_secretaries": {
            "label": "provincial party secretaries, 2025-30",
            "posts": ["provincial.party.head"],
            "female_share": 1 / 34,
            "age_mean": 54.0,
            "below_age": 50.0,
            "share_below_age": 5 / 34,
            "source": "rules.md §8 (baoxuan.vov.vn; vietnamnet.vn): 34 secretaries, mean age 54, "
            "1 woman, 5 under 50",
        },
        "central_committee": {
            "label": "14th Central Committee, full members",
            "body": "central_committee",
            "female_share": 21 / 180,
            "age_mean": 55.4,
            "reelected_share": 109 / 180,
            "source": "rules.md §8 (znews.vn; vnexpress.net): full members' mean age 55.4; 21 women, "
            "all full members, of 180; 109 re-elected",
        },
    },
}


def default_start_groups(preset: str) -> dict[str, Any]:
    return copy.deepcopy(START_GROUPS.get(preset, {}))


def steady_competence(preset: str) -> dict[str, dict[str, float]]:
    """The steady-state competence means of a preset ({"holders": {"level.rank": mean}, "staff":
    {level: mean}}) from pipeline_sim/data/steady_start.toml; empty if it has none."""
    import tomllib
    from importlib import resources

    path = resources.files("pipeline_sim") / "data" / "steady_start.toml"
    if not path.is_file():
        return {}
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    return copy.deepcopy(table.get(preset, {}))
