"""Study 2: strict vs lenient removal: integrity in office against vacancies and succession gaps.

python experiments/removal/study.py                  # scale 0.1, 20 replications (minutes)
python experiments/removal/study.py --scale 1.0      # the national structure
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from study import main

if __name__ == "__main__":
    main(
        "removal",
        ["baseline", "lenient_removal"],
        [
            "integrity_problem_share",
            "undetected_violation_share",
            "vacant_posts",
            "succession_gap_rate",
            "exits_dismissed",
        ],
        "What does replacing disciplined holders at once buy in integrity, and what does it cost?",
    )
