"""Study 1: open vs closed and flexible vs rigid planning, succession gaps by level over three terms.

python experiments/planning/study.py                 # scale 0.1, 20 replications (minutes)
python experiments/planning/study.py --scale 1.0     # the national structure
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from study import main

if __name__ == "__main__":
    main(
        "planning",
        ["baseline", "open_planning", "rigid_planning"],
        ["succession_gap_rate", "bench_strength", "vacant_posts", "quality_in_office", "multi_sector_share"],
        "Does open or flexible planning lower succession gaps, and at which levels?",
    )
