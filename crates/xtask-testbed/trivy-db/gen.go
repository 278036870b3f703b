// gen writes a trivy vulnerability DB (schema 2: trivy.db + metadata.json) holding only the Rust
// advisories it reads as JSON on stdin. The testbed cannot download trivy's real DB, so it serves
// this one from a local registry (see mirror.py, which builds and runs this program).
//
// Build (GOPATH mode, Debian's golang-go and golang-github-coreos-bbolt-dev, no module proxy):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gen gen.go
//
// Input: {"advisories":[{"id":"X-1","crate":"openssl","vulnerable":[">=0.10.0, <0.10.60"],
// "fixed":["0.10.60"],"severity":"HIGH","title":"…","description":"…","references":["…"]}]}
// ("fixed" empty or absent = no fix). Usage: gen -out DIR [-updated-at T] [-next-update T]
// [-downloaded-at T], times in RFC 3339 (default now, now+24h, now).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The bucket trivy looks Cargo.lock and cargo-auditable binaries up in, and its data source.
const (
	cargoBucket = "cargo::GitHub Security Advisory Rust"
	sourceID    = "ghsa"
)

type advisory struct {
	ID          string   `json:"id"`
	Crate       string   `json:"crate"`
	Vulnerable  []string `json:"vulnerable"`
	Fixed       []string `json:"fixed"`
	Severity    string   `json:"severity"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	References  []string `json:"references"`
}

// metadata.json as trivy writes it after a download (Version must be 2, DownloadedAt non-zero).
type metadata struct {
	Version                             int
	NextUpdate, UpdatedAt, DownloadedAt time.Time
}

// trivy's Severity enum, as stored in VendorSeverity (which decides the reported severity).
var severities = map[string]int{"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

func main() {
	now := time.Now().UTC().Truncate(time.Second)
	out := flag.String("out", "", "directory to write trivy.db and metadata.json into (required)")
	updated := flag.String("updated-at", now.Format(time.RFC3339), "metadata UpdatedAt (RFC 3339)")
	next := flag.String("next-update", now.Add(24*time.Hour).Format(time.RFC3339), "metadata NextUpdate (RFC 3339)")
	downloaded := flag.String("downloaded-at", now.Format(time.RFC3339), "metadata DownloadedAt (RFC 3339, non-zero)")
	flag.Parse()
	if *out == "" {
		fail("-out DIR is required")
	}
	var input struct{ Advisories []advisory }
	if err := json.NewDecoder(os.Stdin).Decode(&input); err != nil {
		fail("stdin is not the advisories JSON: %v", err)
	}
	meta := metadata{Version: 2, NextUpdate: parseTime("next-update", *next),
		UpdatedAt: parseTime("updated-at", *updated), DownloadedAt: parseTime("downloaded-at", *downloaded)}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail("%v", err)
	}
	dbPath := filepath.Join(*out, "trivy.db")
	os.Remove(dbPath) // bolt.Open would add to an old file
	if err := writeDB(dbPath, input.Advisories); err != nil {
		fail("%s: %v", dbPath, err)
	}
	metaJSON, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(*out, "metadata.json"), metaJSON, 0o644); err != nil {
		fail("%v", err)
	}
}

func writeDB(path string, advisories []advisory) error {
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		put := func(bucket *bolt.Bucket, key string, value interface{}) error {
			data, err := json.Marshal(value)
			if err != nil {
				return err
			}
			return bucket.Put([]byte(key), data)
		}
		sources, err := tx.CreateBucket([]byte("data-source"))
		if err != nil {
			return err
		}
		source := map[string]string{"ID": sourceID, "Name": "GitHub Security Advisory Rust",
			"URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Arust"}
		if err := put(sources, cargoBucket, source); err != nil {
			return err
		}
		cargo, err := tx.CreateBucket([]byte(cargoBucket))
		if err != nil {
			return err
		}
		vulns, err := tx.CreateBucket([]byte("vulnerability")) // trivy refuses a DB without it
		if err != nil {
			return err
		}
		for _, a := range advisories {
			severity, ok := severities[strings.ToUpper(a.Severity)]
			if !ok || a.ID == "" || a.Crate == "" || len(a.Vulnerable) == 0 {
				return fmt.Errorf("advisory %q: needs id, crate, vulnerable and a severity of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL", a.ID)
			}
			crate, err := cargo.CreateBucketIfNotExists([]byte(strings.ToLower(a.Crate)))
			if err != nil {
				return err
			}
			adv := map[string][]string{"VulnerableVersions": a.Vulnerable}
			if len(a.Fixed) > 0 {
				adv["PatchedVersions"] = a.Fixed
			}
			if err := put(crate, a.ID, adv); err != nil {
				return err
			}
			vuln := map[string]interface{}{"Title": a.Title, "Description": a.Description,
				"Severity": strings.ToUpper(a.Severity), "VendorSeverity": map[string]int{sourceID: severity},
				"References": a.References}
			if err := put(vulns, a.ID, vuln); err != nil {
				return err
			}
		}
		return nil
	})
}

func parseTime(flag, text string) time.Time {
	t, err := time.Parse(time.RFC3339, text)
	if err != nil {
		fail("-%s %q is not an RFC 3339 time: %v", flag, text, err)
	}
	return t.UTC()
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gen: "+format+"\n", args...)
	os.Exit(1)
}
