"""The front keeps accepting submissions while the broker is down, and a broker that comes back *empty* (its data
lost) still gets every unfinished submission again; duplicate messages never grade twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import tinycourse

from .conftest import SCRIPT, wait_until

STATE = Path(os.environ.get("GRADEBOT_SERVICES_DIR", "/tmp/gradebot-services"))


def published_flags(store) -> dict[int, bool]:
    return store.jobs()


def test_broker_loses_its_data_and_nothing_is_lost(cluster):
    from gradebot.core.service import GradingService

    svc = GradingService(cluster.config())
    try:
        svc.import_roster("student_id,name,group\na1,A One,g\na2,A Two,g\n")
        svc.start()
        good, bad = tinycourse.submission(), tinycourse.submission(solved=False)
        first = [svc.submit("a1", "t.ipynb", good), svc.submit("a2", "t.ipynb", bad), svc.submit("a1", "t.ipynb", bad)]
        assert all(published_flags(svc.store)[s.id] for s in first)

        # the broker crashes and its data is gone (no worker has taken anything yet: all 3 messages are lost)
        subprocess.run(["bash", str(SCRIPT), "kill-redis"], check=True, timeout=60)
        shutil.rmtree(STATE / "redis" / "appendonlydir", ignore_errors=True)
        for f in (STATE / "redis").glob("*.rdb"):
            f.unlink()

        # submissions still succeed: durable in PostgreSQL, marked unpublished
        second = [svc.submit("a2", "t.ipynb", good), svc.submit("a1", "t.ipynb", good)]
        flags = published_flags(svc.store)
        assert [flags[s.id] for s in second] == [False, False]
        assert all(svc.get_submission(s.id).status == "queued" for s in first + second)

        subprocess.run(["bash", str(SCRIPT), "start"], check=True, capture_output=True, timeout=120)
        cluster.start_worker("w1")
        subs = first + second
        wait_until(
            lambda: cluster.check_alive() or all(svc.get_submission(s.id).status == "done" for s in subs),
            600,
            1.0,
            "all 5 submissions to be graded after the broker came back empty",
        )
        totals = [svc.get_submission(s.id).result.total for s in subs]
        full = float(sum(tinycourse.TASK_MAX.values()))
        assert totals == [full, 0.0, 0.0, full, full]
        assert all(published_flags(svc.store)[s.id] for s in subs)

        # duplicates of a finished submission: acknowledged and dropped, no second result, no extra delivery
        wait_until(lambda: svc.store.active_claims() == [], 60, 0.2, "claims")
        before = cluster.log("w1").count("duplicate delivery dropped")
        for _ in range(3):
            svc.backend.publish(subs[0].id)
        wait_until(
            lambda: cluster.log("w1").count("duplicate delivery dropped") >= before + 3,
            120,
            0.5,
            "the worker to drop 3 duplicates",
        )
        again = svc.get_submission(subs[0].id)
        assert again.deliveries == 1 and again.result.total == full
        assert svc.store.result_count(subs[0].id) == 1
        assert [a["outcome"] for a in svc.store.attempts(subs[0].id)] == ["done"]

        # a delivery while another *live* worker holds the claim is not dropped but re-scheduled: when that
        # worker goes silent, the re-scheduled message takes the job over (nothing depends on the ghost's message)
        store = svc.store
        ref, sha = store.put_blob(good)
        from datetime import datetime, timezone

        ghost_sub = store.add_submission("a2", "t.ipynb", ref, sha, len(good), "cli", False, datetime.now(timezone.utc))
        ghost = store.claim(ghost_sub.id, "ghost@elsewhere/1", lease_seconds=6)
        svc.backend.publish(ghost_sub.id)
        store.note_enqueued(ghost_sub.id, published=True)
        t_end = time.monotonic() + 8
        while time.monotonic() < t_end:  # the ghost is alive for 8 s
            assert store.heartbeat(ghost_sub.id, ghost)
            time.sleep(1)
        assert "claimed by a live worker" in cluster.log("w1")
        assert svc.get_submission(ghost_sub.id).status == "queued"
        done = svc.wait(ghost_sub.id, timeout=300)
        assert done.status == "done" and done.result.total == full
        # the worker records the attempt's outcome when it releases the claim, just after the result
        wait_until(lambda: store.active_claims() == [], 60, 0.2, "claims")
        assert [(a["worker"].split("/")[0], a["outcome"]) for a in store.attempts(ghost_sub.id)] == [
            ("ghost@elsewhere", "lost"),
            ("w1@test", "done"),
        ]
    finally:
        svc.stop()
        cluster.stop_all()
        svc.store.close()
        # leave the broker running for the other tests
        subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, timeout=120)
        time.sleep(0.1)


def test_start_services_is_idempotent(services):
    pid_file = STATE / "redis" / "redis.pid"
    pg_pid = STATE / "pg" / "data" / "postmaster.pid"
    before = (pid_file.read_text(), pg_pid.read_text().splitlines()[0])
    again = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    lines = [ln for ln in again.stdout.splitlines() if ln.startswith("GRADEBOT_")]
    assert lines == [
        f"GRADEBOT_BROKER_URL={services['GRADEBOT_BROKER_URL']}",
        f"GRADEBOT_DB_URL={services['GRADEBOT_DB_URL']}",
    ]
    assert "already answers" in again.stderr
    assert (pid_file.read_text(), pg_pid.read_text().splitlines()[0]) == before
    # both listen on the loopback interface only
    import psutil

    listening = {c.laddr.port: c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN"}
    for url in services.values():
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert listening.get(port) == "127.0.0.1", (port, listening.get(port))


def test_message_lost_between_pop_and_unacked_is_republished(cluster):
    """kombu takes a message off the queue (BRPOP) and records it as unacknowledged in a second command; a broker
    killed between the two keeps neither, while its marker key survives (append-only file). The sweeper must see
    that the broker holds no message of the submission and publish it again - but not re-publish a message that
    is only caught between the two commands at one sweep, nor one that a live worker's claim covers."""
    from datetime import datetime, timezone

    import redis
    from kombu.transport.redis import Channel

    from gradebot.backends.celery_backend import CeleryBackend, message_submission
    from gradebot.core.models import Student

    backend = CeleryBackend(cluster.config())
    store = backend.open_store()
    store.upsert_students([Student("a1", "A One", "g")])
    nb = tinycourse.submission()
    ref, sha = store.put_blob(nb)

    def new_submission() -> int:
        sub = store.add_submission("a1", "t.ipynb", ref, sha, len(nb), "web", False, datetime.now(timezone.utc))
        backend.enqueue(sub.id)
        return sub.id

    r = redis.Redis.from_url(cluster.env["GRADEBOT_BROKER_URL"])
    queue = backend.settings.queue
    assert backend.sweep() == 0  # sets the broker's marker key (nothing to publish yet)
    lost, busy = new_submission(), new_submission()
    assert backend.sweep() == 0  # both queued in the broker
    assert sorted(message_submission(m) for m in r.lrange(queue, 0, -1)) == [lost, busy]

    # a worker pops both messages; before it records them as unacknowledged, the broker dies (they are gone)
    popped = [r.rpop(queue), r.rpop(queue)]
    assert [message_submission(m) for m in popped] == [lost, busy] and r.llen(queue) == 0
    # ... except that busy's worker got its message and claims it (a live worker: heartbeat fresh)
    assert store.claim(busy, "w9@elsewhere/1", backend.settings.claim_lease) is not None

    # a third one is caught between the two commands when the next sweep looks at the broker
    caught = new_submission()
    raw = r.rpop(queue)
    assert message_submission(raw) == caught
    assert backend.sweep() == 0  # lost and caught missing once: maybe in flight, wait
    # caught's worker completes its record: kombu's own consumer side (a channel that stays open, as a worker's
    # does while it holds the message) writes it to the unacked hash
    r.rpush(queue, raw)
    conn = backend.app.connection_for_write()
    held = conn.default_channel.basic_get(queue, no_ack=False)
    assert held is not None and r.llen(queue) == 0 and r.hlen(Channel.unacked_key) == 1

    # the next sweep: lost is still in neither list: published again; caught and busy are not
    assert backend.sweep() == 1
    assert [message_submission(m) for m in r.lrange(queue, 0, -1)] == [lost]
    assert backend.sweep() == 0  # now held: no second copy
    assert r.llen(queue) == 1
    assert [store.get_submission(s).status for s in (lost, busy, caught)] == ["queued"] * 3
    conn.release()


def test_regrades_are_published_behind_new_submissions(cluster):
    """A regrade publishes at the regrade priority, so a worker's next message is a student's new submission
    even when it arrived after a class regrade; a broker that lost its data gets the same order back from the
    sweeper."""
    from datetime import datetime, timezone

    import redis

    from gradebot.backends.celery_backend import TASK_NAME, CeleryBackend
    from gradebot.core.models import Result, Student

    backend = CeleryBackend(cluster.config())
    store = backend.open_store()
    store.upsert_students([Student("a1", "A One", "g")])
    nb = tinycourse.submission()
    ref, sha = store.put_blob(nb)

    def submission() -> int:
        return store.add_submission("a1", "t.ipynb", ref, sha, len(nb), "web", False, datetime.now(timezone.utc)).id

    assert backend.sweep() == 0  # the broker's marker key
    graded = [submission(), submission()]
    for sid in graded:
        assert store.finish(sid, "done", Result(total=1.0, max=5.0, tasks={}), None, None)
    assert store.requeue_for_regrade([(sid, False) for sid in graded], "b1", "all") == graded
    backend.enqueue_many(graded)
    new = submission()
    backend.enqueue(new)
    queue = backend.settings.queue

    def worker_order() -> list[int]:
        """What a worker would take, in order (kombu pops the priority lists highest first)."""
        conn = backend.app.connection_for_write()
        try:
            got = []
            while (m := conn.default_channel.basic_get(queue, no_ack=True)) is not None:
                assert m.headers["task"] == TASK_NAME
                got.append(int(m.decode()[0][0]))  # Celery protocol 2: [args, kwargs, embed]
            return got
        finally:
            conn.release()

    assert worker_order() == [new, *graded]
    # the broker loses everything (marker included): the sweeper re-publishes, regrades again behind
    redis.Redis.from_url(cluster.env["GRADEBOT_BROKER_URL"]).flushdb()
    assert backend.sweep() == 3
    assert worker_order() == [new, *graded]
