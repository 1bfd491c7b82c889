"""Study 3: rotation intensity: experience breadth and quality in office against disruption and gaps.

python experiments/rotation/study.py                 # scale 0.1, 20 replications (minutes)
python experiments/rotation/study.py --scale 1.0     # the national structure
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from study import main

if __name__ == "__main__":
    main(
        "rotation",
        ["no_rotation", "baseline", "intensive_rotation"],
        [
            "multi_sector_share",
            "grassroots_share",
            "rotated_share",
            "quality_in_office",
            "vacant_posts",
            "succession_gap_rate",
            "bench_strength",
        ],
        "Does rotating planned cadres broaden experience and raise quality, and at what cost in disruption?",
    )
