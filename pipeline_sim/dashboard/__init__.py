"""The teaching dashboard (`pipeline-sim dashboard`): a Solara app over two sides, A and B.

Everything but ``app`` works without Solara: the simulation state (``sim``), the controls, the
lessons and the readable views can be used and tested on their own.
"""
