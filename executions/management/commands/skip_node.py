"""`skip_node ID NODE [--reason TEXT] [--plan]`: an operator skips a pending node of a running batch for this run."""

from __future__ import annotations

from executions import actions
from executions.lifecycle import node_skip
from executions.management.commands._node_action import NodeActionCommand


class Command(NodeActionCommand):
    help = "Skip a pending task node of a running or paused batch before it starts; its downstream follows the edges."
    action = actions.SKIP
    reason_help = "why (recorded with the node and audited)"
    act = staticmethod(node_skip)
    done = "node {node} skipped"
    planning = "skip node {node} of batch {batch}"
