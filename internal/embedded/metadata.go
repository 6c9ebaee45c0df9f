package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// MetadataStore keeps the metric metadata (type, help, unit) seen from the
// self-scrape and from remote_write, keyed by metric family name. Prometheus
// answers /api/v1/metadata from its scrape targets; we have none, so this is
// our source for the same endpoint.
type MetadataStore struct {
	mu       sync.RWMutex
	families map[string][]metadata.Metadata
}

// NewMetadataStore returns an empty store.
func NewMetadataStore() *MetadataStore {
	return &MetadataStore{families: map[string][]metadata.Metadata{}}
}

// Set records metadata for a family; identical entries are kept once.
func (m *MetadataStore) Set(family string, md metadata.Metadata) {
	if family == "" || (md.Type == "" && md.Help == "" && md.Unit == "") {
		return
	}
	m.mu.RLock()
	known := slices.Contains(m.families[family], md)
	m.mu.RUnlock()
	if known {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.families[family], md) {
		// Keep the list small: a family rarely has more than one entry.
		if len(m.families[family]) >= 8 {
			m.families[family] = m.families[family][1:]
		}
		m.families[family] = append(m.families[family], md)
	}
}

// Families returns the metadata of every family, limited as the Prometheus
// API limits it: limit families (<=0: all), limitPerMetric entries each.
func (m *MetadataStore) Families(metric string, limit, limitPerMetric int) map[string][]metadata.Metadata {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.families))
	for name := range m.families {
		if metric == "" || name == metric {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := map[string][]metadata.Metadata{}
	for _, name := range names {
		if limit > 0 && len(out) >= limit {
			break
		}
		entries := m.families[name]
		if limitPerMetric > 0 && len(entries) > limitPerMetric {
			entries = entries[:limitPerMetric]
		}
		out[name] = slices.Clone(entries)
	}
	return out
}

type metadataEntry struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// ServeHTTP answers GET /api/v1/metadata with Prometheus' parameters.
func (m *MetadataStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	limit, limitPerMetric := -1, -1
	var err error
	if s := r.FormValue("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil {
			writeAPIError(w, http.StatusBadRequest, "bad_data", "limit must be a number")
			return
		}
	}
	if s := r.FormValue("limit_per_metric"); s != "" {
		if limitPerMetric, err = strconv.Atoi(s); err != nil {
			writeAPIError(w, http.StatusBadRequest, "bad_data", "limit_per_metric must be a number")
			return
		}
	}
	fams := m.Families(r.FormValue("metric"), limit, limitPerMetric)
	data := make(map[string][]metadataEntry, len(fams))
	for name, entries := range fams {
		for _, e := range entries {
			data[name] = append(data[name], metadataEntry{Type: string(e.Type), Help: e.Help, Unit: e.Unit})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": typ, "error": msg})
}

// metadataRecorder passes appends through to the TSDB and notes the metadata
// that remote_write senders attach, for the metadata endpoint.
type metadataRecorder struct {
	storage.AppendableV2
	meta *MetadataStore
}

func (m metadataRecorder) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return metadataAppender{AppenderV2: m.AppendableV2.AppenderV2(ctx), meta: m.meta}
}

type metadataAppender struct {
	storage.AppenderV2
	meta *MetadataStore
}

func (a metadataAppender) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if !opts.Metadata.IsEmpty() {
		family := opts.MetricFamilyName
		if family == "" {
			family = familyOf(ls.Get(labels.MetricName), opts.Metadata.Type)
		}
		a.meta.Set(family, opts.Metadata)
	}
	return a.AppenderV2.Append(ref, ls, st, t, v, h, fh, opts)
}

// AppendExemplars passes exemplars through; the remote_write 1.0 receiver
// needs an appender that takes them.
func (a metadataAppender) AppendExemplars(ref storage.SeriesRef, ls labels.Labels, es []exemplar.Exemplar) (storage.SeriesRef, error) {
	ea, ok := a.AppenderV2.(storage.ExemplarAppenderV2)
	if !ok {
		return ref, fmt.Errorf("storage appender %T takes no exemplars", a.AppenderV2)
	}
	return ea.AppendExemplars(ref, ls, es)
}

// familyOf strips the suffixes a histogram or summary adds to its family name.
func familyOf(name string, typ model.MetricType) string {
	if typ != model.MetricTypeHistogram && typ != model.MetricTypeSummary && typ != model.MetricTypeGaugeHistogram {
		return name
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}
