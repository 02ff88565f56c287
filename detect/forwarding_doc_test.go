package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIngestPipelineDoc checks docs/ingest-pipeline.json and the
// forwarding recipe of docs/FORWARDING.md against the alert document. There
// is no Elasticsearch here: the pipeline is checked as data, not run.
func TestIngestPipelineDoc(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "ingest-pipeline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Description string
		Processors  []map[string]map[string]any
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("docs/ingest-pipeline.json: %v", err)
	}
	if len(p.Processors) == 0 {
		t.Fatal("docs/ingest-pipeline.json: no processors")
	}
	sets := map[string]map[string]any{}
	for i, proc := range p.Processors {
		if len(proc) != 1 {
			t.Errorf("processor %d: want exactly one processor type, got %d", i, len(proc))
		}
		for typ, cfg := range proc {
			if typ != "set" {
				t.Errorf("processor %d: unexpected %q processor (the doc names set processors only)", i, typ)
				continue
			}
			f, _ := cfg["field"].(string)
			if f == "@timestamp" {
				t.Errorf("processor %d overwrites @timestamp: the alert's own time must stay", i)
			}
			sets[f] = cfg
		}
	}
	ing := sets["event.ingested"]
	if ing == nil || ing["value"] != "{{{_ingest.timestamp}}}" || ing["override"] != true {
		t.Errorf("event.ingested processor = %v, want value {{{_ingest.timestamp}}}, override true", ing)
	}
	for f, want := range map[string]string{"data_stream.type": "logs", "data_stream.dataset": AlertDataset, "data_stream.namespace": AlertNamespace} {
		if c := sets[f]; c == nil || c["value"] != want || c["override"] != false {
			t.Errorf("%s processor = %v, want value %q, override false", f, c, want)
		}
	}

	doc, err := os.ReadFile(filepath.Join("..", "docs", "FORWARDING.md"))
	if err != nil {
		t.Fatal(err)
	}
	index := "logs-" + AlertDataset + "-" + AlertNamespace
	for _, want := range []string{
		`index: "` + index + `"`,                       // Filebeat
		`pipeline: "macsensor-alerts"`,                 // Filebeat
		"Index              " + index,                  // Fluent Bit
		"Pipeline           macsensor-alerts",          // Fluent Bit
		`data_stream.dataset = "` + AlertDataset + `"`, // Vector
		`pipeline = "macsensor-alerts"`,                // Vector
		"PUT _ingest/pipeline/macsensor-alerts",
		"event.kind:alert and event.module:(endpoint and not endgame)",
		`timestamp_override = "event.ingested"`,
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/FORWARDING.md does not show %q", want)
		}
	}
	if strings.Contains(string(doc), "logs-macsensor.alerts") {
		t.Error("docs/FORWARDING.md still names the old data stream logs-macsensor.alerts")
	}
}
