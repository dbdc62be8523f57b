"""The sync status as ``ic3 status`` prints it."""

from __future__ import annotations

from ic3_pipeline.status.queries import SyncStatus


def format_status(status: SyncStatus, where: str, *, batches: bool = True) -> str:
    last = status.last_sync_at.strftime("%Y-%m-%d %H:%M:%S UTC") if status.last_sync_at else "never"
    lines = [
        f"Sync status of {where}",
        f"  {'total assets':<18}{status.total:>8}",
        f"  {'synced':<18}{status.synced:>8}",
        f"  {'needing retry':<18}{status.needing_retry:>8}",
        f"  {'not found':<18}{status.not_found:>8}",
        f"  {'never synced':<18}{status.never_synced:>8}",
        f"  {'stale':<18}{status.stale:>8}",
        f"  {'last sync':<18}{last:>8}",
    ]
    if batches and status.last_batches:
        lines.append("  last batches:")
        for batch in status.last_batches:
            started = batch["started_at"].strftime("%Y-%m-%d %H:%M:%S") if batch["started_at"] else "?"
            lines.append(
                f"    {started}  {batch['source']:<12} {batch['status']:<8} synced {batch['assets_synced']}/"
                f"{batch['assets_due']}, failed {batch['assets_failed']}, not found {batch['assets_not_found']}, "
                f"{batch['requests']} requests, {batch['throttled']} × 429, {batch['duration_ms'] / 1000:.1f} s  "
                f"[{batch['partitions']}]"
            )
    return "\n".join(lines)
