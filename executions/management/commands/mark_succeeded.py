"""`mark_succeeded ID NODE --reason TEXT [--plan]`: an operator marks a failed, timed-out or stopped node succeeded."""

from __future__ import annotations

from executions import actions
from executions.lifecycle import node_mark_succeeded
from executions.management.commands._node_action import NodeActionCommand


class Command(NodeActionCommand):
    help = (
        "Mark a failed, timed-out or stopped task node succeeded: its success edges fire and the batch goes on "
        "(an ended batch is continued by a new batch that keeps every other node's result)."
    )
    action = actions.MARK_SUCCEEDED
    reason_help = "why (required; recorded with the node and audited)"
    act = staticmethod(node_mark_succeeded)
    done = "node {node} marked succeeded"
    planning = "mark node {node} of batch {batch} succeeded"
