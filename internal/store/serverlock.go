package store

import (
	"context"
	"fmt"
)

// AcquireServerLock makes sure a single process serves a SQLite database:
// it takes an exclusive lock on PATH.lock, held until the returned function
// is called (or the process dies). Postgres needs no such lock (River
// coordinates any number of processes there), so it returns at once.
func (s *Store) AcquireServerLock() (release func(), err error) {
	if s.dialect != SQLite || s.where == ":memory:" {
		return func() {}, nil
	}
	return lockFile(s.where + ".lock")
}

// RequeueOrphanedJobs returns River jobs left "running" by a process that
// died (kill -9, power loss) to the queue at once. It is only correct while
// holding the server lock, so it does nothing on Postgres, where River's
// rescuer retries stuck jobs after Config.RescueStuckJobsAfter instead.
func (s *Store) RequeueOrphanedJobs(ctx context.Context) (int, error) {
	if s.dialect != SQLite {
		return 0, nil
	}
	res, err := s.exec(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		return 0, fmt.Errorf("requeue interrupted jobs: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
