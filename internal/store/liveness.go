package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Process liveness on Postgres.
//
// Several servers share one Postgres database. When one dies (kill -9, OOM,
// a crashed host), the River jobs it was running stay "running" until
// River's rescuer gives up on them, minutes later. To take them over at once
// without ever taking a job from a live process, each process holds a
// session advisory lock named after its River client id on a connection of
// its own for as long as it works jobs. Postgres releases the lock the moment
// that connection closes, which happens when the process dies. A job whose
// last taker's lock is free was abandoned; it is requeued while holding that
// lock, so the taker cannot come back in between.

// livenessNamespace is the first key of every liveness lock ("ghlv"); the
// second is a hash of the process id. Two-key advisory locks do not collide
// with the single-key migration lock.
const livenessNamespace int32 = 0x67686c76

func livenessKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32())
}

// ErrProcessLockHeld means another session holds a process's liveness lock.
var ErrProcessLockHeld = errors.New("liveness lock held by another session")

// ProcessLock is a held liveness lock, on a connection used for nothing else.
type ProcessLock struct {
	conn *pgx.Conn
}

// LockProcess takes the liveness lock of process id on a new connection. It
// returns ErrProcessLockHeld when another session holds it, and an error on
// SQLite, where one process serves a database and needs no such lock.
func (s *Store) LockProcess(ctx context.Context, id string) (*ProcessLock, error) {
	if s.pgPool == nil {
		return nil, errors.New("liveness locks need Postgres")
	}
	conn, err := pgx.ConnectConfig(ctx, s.pgPool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("liveness lock: connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, livenessNamespace, livenessKey(id)).Scan(&ok); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("liveness lock: %w", err)
	}
	if !ok {
		conn.Close(context.Background())
		return nil, ErrProcessLockHeld
	}
	return &ProcessLock{conn: conn}, nil
}

// Ping checks that the lock's session still exists (and so holds the lock).
func (l *ProcessLock) Ping(ctx context.Context) error {
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("liveness lock: %w", err)
	}
	return nil
}

// Release ends the lock's session, which releases the lock.
func (l *ProcessLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}

// RunningJobTakers returns the distinct client ids, starting with prefix,
// that took the River jobs now running (the last entry of attempted_by).
// Postgres only; SQLite returns nothing.
func (s *Store) RunningJobTakers(ctx context.Context, prefix string) ([]string, error) {
	if s.dialect != Postgres {
		return nil, nil
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT attempted_by[array_length(attempted_by, 1)] FROM river_job
		WHERE state = 'running' AND starts_with(attempted_by[array_length(attempted_by, 1)], $1)`, prefix)
	if err != nil {
		return nil, fmt.Errorf("running job takers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("running job takers: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("running job takers: %w", err)
	}
	return out, nil
}

// RequeueAbandonedJobs returns the running jobs last taken by process id to
// the queue if that process does not hold its liveness lock. The check and
// the update happen in one transaction holding the lock, so the process
// cannot take it back in between. alive reports that the lock was held (and
// nothing was done).
func (s *Store) RequeueAbandonedJobs(ctx context.Context, id string) (requeued int, alive bool, err error) {
	if s.dialect != Postgres {
		return 0, false, errors.New("liveness locks need Postgres")
	}
	err = s.InTx(ctx, func(tx *Tx) error {
		var free bool
		if err := tx.Tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, livenessNamespace, livenessKey(id)).Scan(&free); err != nil {
			return err
		}
		if !free {
			alive = true
			return nil
		}
		res, err := tx.Tx.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
			WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, id)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		requeued = int(n)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("requeue jobs of process %s: %w", id, err)
	}
	return requeued, alive, nil
}

// ProcessAlive reports whether process id holds its liveness lock.
func (s *Store) ProcessAlive(ctx context.Context, id string) (bool, error) {
	if s.dialect != Postgres {
		return false, errors.New("liveness locks need Postgres")
	}
	var alive bool
	err := s.InTx(ctx, func(tx *Tx) error {
		var free bool
		if err := tx.Tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, livenessNamespace, livenessKey(id)).Scan(&free); err != nil {
			return err
		}
		alive = !free
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("liveness of process %s: %w", id, err)
	}
	return alive, nil
}
