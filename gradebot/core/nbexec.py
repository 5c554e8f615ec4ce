"""nbgrader's Execute preprocessor, adapted for gradebot. Imported by the nbgrader process of one grading job
(never by the kernel): ``c.Autograde.autograde_preprocessors`` names :class:`SandboxExecute` instead of Execute.

It (1) starts the kernel through :class:`gradebot.core.sandbox.SandboxKernelManager` (unless the instructor set
``sandbox="none"``), (2) keeps at most ``$GRADEBOT_MAX_OUTPUT_BYTES`` of cell output per notebook (the rest is
dropped and a note is added), (3) survives a dead kernel: the cells after it get an error output (0 points for
them) instead of aborting the whole autograde, and (4) appends events (timeout, kernel death, truncated output)
as JSON lines to ``$GRADEBOT_EVENTS`` for the verdict.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute

EVENTS_ENV = "GRADEBOT_EVENTS"
MAX_OUTPUT_ENV = "GRADEBOT_MAX_OUTPUT_BYTES"
REPORT_ENV = "GRADEBOT_REPORT"  # a course with trusted grading writes its JSON report there (tests, cells, seconds)


def _event(kind: str, **data: Any) -> None:
    path = os.environ.get(EVENTS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"event": kind, **data}) + "\n")


def _msg_size(msg: dict) -> int:
    content = msg.get("content", {})
    if "text" in content:
        return len(content["text"])
    try:
        return len(json.dumps(content.get("data", content)))
    except (TypeError, ValueError):
        return 0


class SandboxExecute(Execute):
    def __init__(self, *args: Any, **kwargs: Any):
        from gradebot.core.sandbox import kernel_manager_class, sandbox_mode

        if sandbox_mode() == "bwrap":
            kwargs["kernel_manager_class"] = kernel_manager_class()
        super().__init__(*args, **kwargs)
        self._gb_max_output = int(os.environ.get(MAX_OUTPUT_ENV, str(1024 * 1024)))
        self._gb_output_bytes = 0
        self._gb_truncated = False
        self._gb_dead = False
        self._gb_cell_index = -1

    # -------------------------------------------------------------- output limit
    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        size = _msg_size(msg)
        if self._gb_output_bytes + size > self._gb_max_output:
            if not self._gb_truncated:
                self._gb_truncated = True
                _event("output-limit", cell=cell_index, limit=self._gb_max_output)
                outs.append(
                    NotebookNode(
                        output_type="stream",
                        name="stderr",
                        text=f"\n[gradebot: output limit of {self._gb_max_output} bytes reached; "
                        "further output of this notebook is dropped]\n",
                    )
                )
            return None
        self._gb_output_bytes += size
        return super().output(outs, msg, display_id, cell_index)

    # -------------------------------------------------------------- timeouts and dead kernels
    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        _event("timeout", cell=self._gb_cell_index, seconds=timeout)
        return await super()._async_handle_timeout(timeout, cell)

    async def async_execute_cell(
        self, cell: NotebookNode, cell_index: int, execution_count: int | None = None, store_history: bool = True
    ) -> NotebookNode:
        from nbclient.exceptions import DeadKernelError

        self._gb_cell_index = cell_index
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._gb_dead:
            cell.outputs = [
                NotebookNode(
                    output_type="error",
                    ename="KernelDied",
                    evalue="not run: the kernel died in an earlier cell",
                    traceback=["KernelDied: not run: the kernel died in an earlier cell"],
                )
            ]
            return cell
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self._gb_dead = True
            rc = None
            try:
                proc = getattr(self.km.provisioner, "process", None)
                rc = proc.wait(timeout=5) if proc is not None else None
            except Exception:  # noqa: BLE001 - best effort diagnostics only
                rc = None
            _event("kernel-died", cell=cell_index, returncode=rc)
            cell.outputs.append(
                NotebookNode(
                    output_type="error",
                    ename="KernelDied",
                    evalue=f"the kernel died while running this cell (exit status {rc})",
                    traceback=[f"KernelDied: exit status {rc}"],
                )
            )
            return cell

    execute_cell = run_sync(async_execute_cell)  # the sync alias nbconvert calls must point at our override
