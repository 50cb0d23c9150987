"""Restore drill: the newest backup restored into a throwaway server, timed and verified, the way the monthly
``test_backup_restore`` of the runbook meant it (a backup is only as good as its last successful restore)."""
