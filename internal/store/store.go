// Package store opens ghlsync's database (an embedded SQLite file or
// Postgres), applies River's migrations and ghlsync's own, and holds the
// queries for trigger events, runs, their checkpointed steps and poll state.
//
// Both dialects share one River driver type (database/sql transactions), so an
// event row and its River job are always inserted in one *sql.Tx.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DefaultPath is the SQLite file used when no database is configured.
const DefaultPath = "./ghlsync.db"

// Options says which database to open.
type Options struct {
	// Path is a SQLite file. Used when URL is empty; DefaultPath when both are.
	Path string
	// URL is a database URL: postgres://... or postgresql://... for Postgres,
	// sqlite:PATH (or sqlite://PATH) for SQLite.
	URL string
	// Schema (Postgres only) is created if missing and made the search_path,
	// so several installations or test suites can share one database.
	Schema string
	// MaxConns caps the Postgres pool (default 10). SQLite always uses one
	// connection: River requires it, and SQLite has a single writer anyway.
	MaxConns int
	// BusyTimeout is how long a SQLite statement waits for another process's
	// write lock (default 10s).
	BusyTimeout time.Duration
	// SkipMigrations opens the database as it is (for tools that must not
	// change the schema).
	SkipMigrations bool
	// Logger receives migration messages; nil discards them.
	Logger *slog.Logger
	// MustExist refuses to create a SQLite file (or its folder) that is not
	// there yet, with an error wrapping ErrNoDatabase: for commands that
	// only read, so a mistyped path is not taken for an empty history.
	MustExist bool
}

// ErrNoDatabase is wrapped by Open with MustExist when the SQLite file does
// not exist.
var ErrNoDatabase = errors.New("no database")

// Store is an open database with ghlsync's schema.
type Store struct {
	// DB is the connection pool. On SQLite it holds exactly one connection:
	// never use DB while holding a transaction from it, or the call waits
	// forever.
	DB *sql.DB
	queries

	dialect string
	pgPool  *pgxpool.Pool
	driver  riverdriver.Driver[*sql.Tx]
	logger  *slog.Logger
	where   string
}

// Open opens (creating if needed) the database named by opts and applies all
// pending migrations: River's first, then ghlsync's numbered files.
func Open(ctx context.Context, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		s   *Store
		err error
	)
	dialect, target, err := parseTarget(opts)
	if err != nil {
		return nil, err
	}
	switch dialect {
	case Postgres:
		s, err = openPostgres(ctx, target, opts)
	default:
		s, err = openSQLite(ctx, target, opts)
	}
	if err != nil {
		return nil, err
	}
	s.logger = logger
	s.queries = queries{db: s.DB, dialect: s.dialect}
	if !opts.SkipMigrations {
		if err := s.migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// parseTarget works out the dialect and the file path or URL to open.
func parseTarget(opts Options) (dialect, target string, err error) {
	u := strings.TrimSpace(opts.URL)
	switch {
	case u == "":
		p := opts.Path
		if p == "" {
			p = DefaultPath
		}
		return SQLite, p, nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return Postgres, u, nil
	case strings.HasPrefix(u, "sqlite://"):
		return SQLite, strings.TrimPrefix(u, "sqlite://"), nil
	case strings.HasPrefix(u, "sqlite:"):
		return SQLite, strings.TrimPrefix(u, "sqlite:"), nil
	default:
		return "", "", fmt.Errorf("database URL %q: expected postgres://..., postgresql://... or sqlite:PATH", redactURL(u))
	}
}

func openSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if opts.MustExist && path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s", ErrNoDatabase, path)
		}
	}
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlite %s: %w", path, err)
			}
		}
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	// River sets no pragmas: WAL lets readers in other processes (ghlsync runs
	// list) work beside the server; synchronous(FULL) makes a commit durable
	// before the webhook is acknowledged; immediate transactions take the
	// write lock up front instead of failing on upgrade.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	pctx, cancel := context.WithTimeout(ctx, busy+5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return &Store{DB: db, dialect: SQLite, driver: riversqlite.New(db), where: path}, nil
}

func openPostgres(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redactURL(rawURL), err)
	}
	where := redactURL(rawURL)
	if opts.Schema != "" {
		if err := createSchema(ctx, cfg.ConnConfig, opts.Schema); err != nil {
			return nil, fmt.Errorf("postgres %s: %w", where, err)
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	} else if cfg.MaxConns < 10 {
		cfg.MaxConns = 10
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(pctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", where, err)
	}
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", where, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	// The listener wakes workers as soon as a job is inserted by any process.
	driver := riverdatabasesql.NewWithPgxListener(db, pool)
	return &Store{DB: db, dialect: Postgres, pgPool: pool, driver: driver, where: where}, nil
}

func createSchema(ctx context.Context, cc *pgx.ConnConfig, schema string) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cc.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// redactURL drops the password from a database URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// String names the database without secrets.
func (s *Store) String() string { return s.dialect + " " + s.where }

// RiverDriver returns the River driver over this store's pool. Jobs inserted
// with it inside a transaction from Begin commit or roll back with that
// transaction.
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] { return s.driver }

// Close closes the database. Stop every River client using it first.
func (s *Store) Close() error {
	err := s.DB.Close()
	if s.pgPool != nil {
		s.pgPool.Close()
	}
	return err
}

// Rebind rewrites ? placeholders for the store's dialect ($1, $2, ... on
// Postgres). Queries must not contain ? anywhere else.
func (s *Store) Rebind(query string) string { return rebind(s.dialect, query) }

func rebind(dialect, query string) string {
	if dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Tx is a transaction with the store's queries. Tx.Tx can be handed to
// River's InsertTx so a job commits together with the rows written here.
type Tx struct {
	Tx *sql.Tx
	queries
}

// InTx runs fn in a transaction, committing if fn returns nil and rolling
// back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: sqlTx, queries: queries{db: sqlTx, dialect: s.dialect}}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// migrate applies River's migrations, then ghlsync's.
func (s *Store) migrate(ctx context.Context) error {
	unlock, err := s.migrationLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := rivermigrate.New(s.driver, &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return s.applyMigrations(ctx)
}

// migrationLock keeps two processes starting at once on one Postgres
// database from migrating concurrently. SQLite serialises writers already.
func (s *Store) migrationLock(ctx context.Context) (func(), error) {
	if s.dialect != Postgres {
		return func() {}, nil
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	const key = 7_245_731_001 // arbitrary, constant for ghlsync
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		conn.Close()
	}, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries holds the SQL shared by Store (autocommit) and Tx.
type queries struct {
	db      querier
	dialect string
}

func (q queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.db.ExecContext(ctx, rebind(q.dialect, query), args...)
}

func (q queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.db.QueryContext(ctx, rebind(q.dialect, query), args...)
}

func (q queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.db.QueryRowContext(ctx, rebind(q.dialect, query), args...)
}

// micros converts a time to the stored unix microseconds (0 for the zero time).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts stored unix microseconds back (zero time for 0).
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}
