#include "kiln/popgen/simulation.h"

#include <arrow/api.h>
#include <arrow/util/bit_util.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kiln/core/detmath.h"
#include "kiln/core/error_codes.h"
#include "kiln/popgen/samplers.h"
#include "kiln/popgen/streams.h"

namespace kiln::popgen {

namespace errors = core::errors;
using core::detmath::det_exp;
using core::detmath::det_log;
using core::detmath::det_log1p;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Neumaier-compensated sum: mean_w must equal exp(-r d^2) to 1e-12 relative over 10^4 terms (S1).
struct NeumaierSum {
  double sum = 0, c = 0;
  void add(double x) {
    const double t = sum + x;
    if (std::fabs(sum) >= std::fabs(x))
      c += (sum - t) + x;
    else
      c += (x - t) + sum;
    sum = t;
  }
  double value() const { return sum + c; }
};

/// Adults of one generation: alleles [i][j][copy], one sex flag per individual.
struct Adults {
  std::vector<std::int32_t> alleles;
  std::vector<std::uint8_t> female;
  std::int64_t size() const { return static_cast<std::int64_t>(female.size()); }
};

/// Per-generation statistics of the adults (§4.1).
struct Stats {
  std::int64_t N = 0, F = 0, M = 0;
  std::vector<double> mean_av, var_av;
  std::vector<std::int32_t> min_allele, max_allele, segregating;
};

void ComputeStats(const Adults& a, std::int32_t n, bool segregating, Stats* s) {
  s->N = a.size();
  s->F = 0;
  for (auto f : a.female) s->F += f;
  s->M = s->N - s->F;
  s->mean_av.assign(n, kNaN);
  s->var_av.assign(n, kNaN);
  s->min_allele.assign(n, 0);
  s->max_allele.assign(n, 0);
  s->segregating.assign(n, 0);
  if (s->N == 0) return;
  const std::size_t stride = 2 * static_cast<std::size_t>(n);
  for (std::int32_t j = 0; j < n; ++j) {
    // Sums of (a+b - c) are exact in integers; c (the first adult's sum) keeps them small, so the
    // variance does not suffer cancellation when allele values are large.
    const std::int64_t c = static_cast<std::int64_t>(a.alleles[2 * j]) + a.alleles[2 * j + 1];
    std::int64_t s1 = 0;
    __int128 s2 = 0;
    std::int32_t lo = std::numeric_limits<std::int32_t>::max(), hi = std::numeric_limits<std::int32_t>::min();
    for (std::int64_t i = 0; i < s->N; ++i) {
      const std::int32_t x = a.alleles[i * stride + 2 * j], y = a.alleles[i * stride + 2 * j + 1];
      const std::int64_t d = static_cast<std::int64_t>(x) + y - c;
      s1 += d;
      s2 += static_cast<__int128>(d) * d;
      lo = std::min(lo, std::min(x, y));
      hi = std::max(hi, std::max(x, y));
    }
    const double N = static_cast<double>(s->N);
    s->mean_av[j] = (static_cast<double>(c) + static_cast<double>(s1) / N) / 2.0;
    const __int128 num = static_cast<__int128>(s->N) * s2 - static_cast<__int128>(s1) * s1;
    s->var_av[j] = static_cast<double>(num) / (4.0 * N * N);
    s->min_allele[j] = lo;
    s->max_allele[j] = hi;
    if (segregating) {
      const std::int64_t width = static_cast<std::int64_t>(hi) - lo + 1;
      if (width <= (1 << 20)) {
        std::vector<std::uint8_t> seen(static_cast<std::size_t>(width), 0);
        std::int32_t count = 0;
        for (std::int64_t i = 0; i < s->N; ++i)
          for (int k = 0; k < 2; ++k) {
            auto& m = seen[static_cast<std::size_t>(a.alleles[i * stride + 2 * j + k] - lo)];
            count += (m == 0);
            m = 1;
          }
        s->segregating[j] = count;
      } else {
        std::vector<std::int32_t> v;
        for (std::int64_t i = 0; i < s->N; ++i)
          for (int k = 0; k < 2; ++k) v.push_back(a.alleles[i * stride + 2 * j + k]);
        std::sort(v.begin(), v.end());
        s->segregating[j] = static_cast<std::int32_t>(std::unique(v.begin(), v.end()) - v.begin());
      }
    }
  }
}

/// The model, one generation at a time (§2.5 steps 2-5).
class Model {
 public:
  Model(const Params& p, std::uint64_t seed, std::uint64_t rep, std::uint64_t capacity_limit)
      : p_(p), seed_(seed), rep_(rep), n_(p.n), r_(p.r()), rn_(r_ / p.n), cap_limit_(capacity_limit) {
    if (p.u > 0.0 && p.u < 1.0) log1m_u_ = det_log1p(-p.u);
    phase_.assign(n_, 0.0);
    if (p.locus_phase == LocusPhase::kStaggered)
      for (std::int32_t j = 0; j < n_; ++j) phase_[j] = (j - (n_ - 1) / 2.0) / n_;
  }

  double theta(std::int64_t t) const {
    return p_.optimum_offset + static_cast<double>(std::max<std::int64_t>(t, 0)) / p_.T;
  }
  double theta_j(std::int64_t t, std::int32_t j) const { return theta(t) + phase_[j]; }

  /// f(N) = 2 exp(r - r exp(ln(N/K)/r)): stable as r -> 0+, superstable at K.
  double fecundity(std::int64_t N) const {
    const double x = static_cast<double>(N) / static_cast<double>(p_.K);
    return 2.0 * det_exp(r_ - r_ * det_exp(det_log(x) / r_));
  }

  void Init(std::int64_t t0, Adults* a) const {
    const std::int64_t N0 = p_.N0();
    a->alleles.assign(static_cast<std::size_t>(N0) * 2 * n_, p_.initial_allele);
    a->female.resize(static_cast<std::size_t>(N0));
    for (std::int64_t c = 0; c * static_cast<std::int64_t>(kChunk) < N0; ++c) {
      auto s = Stream(seed_, rep_, t0, Purpose::kInit, static_cast<std::uint64_t>(c));
      const std::int64_t end = std::min<std::int64_t>(N0, (c + 1) * kChunk);
      for (std::int64_t i = c * kChunk; i < end; ++i) a->female[i] = s.next_double() < p_.female_fraction;
    }
  }

  struct Cohort {
    std::int64_t births = 0, mutations = 0, blocked = 0;
    double fecundity = 0, mean_w = kNaN;
  };

  /// Produces generation t from `parents` (whose stats are `ps`) into `out`. With `trace`, keeps
  /// the pre-selection offspring for the §11 item 4 test.
  core::Status Generate(std::int64_t t, const Adults& parents, const Stats& ps, Adults* out, Cohort* cohort,
                        GenerationTrace* trace = nullptr) {
    const std::int64_t N = ps.N, F = ps.F, Mm = ps.M;
    const std::size_t stride = 2 * static_cast<std::size_t>(n_);
    females_.clear();
    males_.clear();
    for (std::int64_t i = 0; i < N; ++i) (parents.female[i] ? females_ : males_).push_back(static_cast<std::uint64_t>(i));
    const double f = fecundity(N);
    cohort->fecundity = f;

    // Step 2: births. Poisson mode draws the total and gives each offspring a uniform mother,
    // which equals independent Poisson(f) per female in law (multinomial conditioning, §5.3).
    mothers_.clear();
    std::int64_t B = 0;
    if (p_.offspring_dist == OffspringDist::kPoisson) {
      auto s = Stream(seed_, rep_, t, Purpose::kBirths, 0);
      B = Poisson(s, static_cast<double>(F) * f);
    } else {
      const double fl = std::floor(f), frac = f - fl;
      for (std::int64_t c = 0; c * static_cast<std::int64_t>(kChunk) < F; ++c) {
        auto s = Stream(seed_, rep_, t, Purpose::kBirths, static_cast<std::uint64_t>(c));
        const std::int64_t end = std::min<std::int64_t>(F, (c + 1) * kChunk);
        for (std::int64_t k = c * kChunk; k < end; ++k) {
          const auto cnt = static_cast<std::int64_t>(fl) + (s.next_double() < frac ? 1 : 0);
          for (std::int64_t q = 0; q < cnt; ++q) mothers_.push_back(static_cast<std::uint64_t>(k));
        }
      }
      B = static_cast<std::int64_t>(mothers_.size());
    }
    cohort->births = B;
    if (static_cast<std::uint64_t>(B) > cap_limit_) {
      auto st = errors::popgen_population_capacity(std::to_string(B) + " births at generation " + std::to_string(t) +
                                                   " exceed the capacity " + std::to_string(cap_limit_) +
                                                   " that fits in max_memory_bytes");
      return st.with_detail("generation", t).with_detail("births", B);
    }
    if (p_.mating == Mating::kPerFemale) {
      mates_.resize(static_cast<std::size_t>(F));
      for (std::int64_t c = 0; c * static_cast<std::int64_t>(kChunk) < F; ++c) {
        auto s = Stream(seed_, rep_, t, Purpose::kMate, static_cast<std::uint64_t>(c));
        const std::int64_t end = std::min<std::int64_t>(F, (c + 1) * kChunk);
        for (std::int64_t k = c * kChunk; k < end; ++k) mates_[k] = Bounded(s, static_cast<std::uint64_t>(Mm));
      }
    }
    kids_.resize(static_cast<std::size_t>(B) * stride);
    kid_female_.resize(static_cast<std::size_t>(B));
    kid_w_.resize(static_cast<std::size_t>(B));
    out->alleles.clear();
    out->female.clear();
    if (trace) {
      trace->mothers.assign(static_cast<std::size_t>(B), 0);
      trace->fathers.assign(static_cast<std::size_t>(B), 0);
    }

    // Survival tables over the allele-sum window the offspring can reach (parents +-1 per copy).
    tables_.assign(n_, {});
    table_lo_.assign(n_, 0);
    for (std::int32_t j = 0; j < n_; ++j) {
      const std::int64_t lo = 2 * static_cast<std::int64_t>(ps.min_allele[j]) - 2;
      const std::int64_t hi = 2 * static_cast<std::int64_t>(ps.max_allele[j]) + 2;
      if (hi - lo + 1 > 4096) continue;  // direct det_exp: the values are identical
      table_lo_[j] = lo;
      const double th = theta_j(t, j);
      tables_[j].resize(static_cast<std::size_t>(hi - lo + 1));
      for (std::int64_t sidx = lo; sidx <= hi; ++sidx) {
        const double d = static_cast<double>(sidx) / 2.0 - th;
        tables_[j][static_cast<std::size_t>(sidx - lo)] = det_exp(-rn_ * (d * d));
      }
    }

    NeumaierSum wsum;
    const bool symmetric = p_.mutation == Mutation::kSymmetric;
    for (std::int64_t c = 0; c * static_cast<std::int64_t>(kChunk) < B; ++c) {
      const std::int64_t begin = c * kChunk, end = std::min<std::int64_t>(B, (c + 1) * kChunk);
      const auto cu = static_cast<std::uint64_t>(c);
      // Step 3: parents, transmission.
      auto sp = Stream(seed_, rep_, t, Purpose::kParents, cu);
      auto sg = Stream(seed_, rep_, t, Purpose::kGametes, cu);
      for (std::int64_t i = begin; i < end; ++i) {
        std::uint64_t mk;
        if (p_.offspring_dist == OffspringDist::kPoisson)
          mk = Bounded(sp, static_cast<std::uint64_t>(F));
        else
          mk = mothers_[i];
        const std::uint64_t fk = p_.mating == Mating::kPerOffspring ? Bounded(sp, static_cast<std::uint64_t>(Mm)) : mates_[mk];
        const std::uint64_t mother = females_[mk], father = males_[fk];
        if (trace) {
          trace->mothers[i] = mother;
          trace->fathers[i] = father;
        }
        const std::uint64_t g = sg.next_u64();
        const std::int32_t* ma = &parents.alleles[mother * stride];
        const std::int32_t* fa = &parents.alleles[father * stride];
        std::int32_t* kid = &kids_[static_cast<std::size_t>(i) * stride];
        for (std::int32_t j = 0; j < n_; ++j) {
          kid[2 * j] = ma[2 * j + ((g >> j) & 1)];
          kid[2 * j + 1] = fa[2 * j + ((g >> (32 + j)) & 1)];
        }
      }
      // Mutation: geometric gaps over the chunk's slots (offspring, locus, copy).
      if (p_.u > 0.0) {
        auto sm = Stream(seed_, rep_, t, Purpose::kMutation, cu);
        const std::int64_t slots = (end - begin) * static_cast<std::int64_t>(stride);
        std::int32_t* base = &kids_[static_cast<std::size_t>(begin) * stride];
        std::int64_t pos = -1;
        for (;;) {
          if (p_.u >= 1.0) {
            pos += 1;
          } else {
            const double gap = std::floor(det_log(1.0 - sm.next_double()) / log1m_u_);
            if (gap >= static_cast<double>(slots - pos)) break;
            pos += static_cast<std::int64_t>(gap) + 1;
          }
          if (pos >= slots) break;
          int dir = 1;
          if (symmetric) dir = sm.next_double() < 0.5 ? 1 : -1;
          std::int32_t& a = base[pos];
          const std::int64_t next = static_cast<std::int64_t>(a) + dir;
          if ((p_.allele_max && next > *p_.allele_max) || (p_.allele_min && next < *p_.allele_min)) {
            ++cohort->blocked;
            continue;
          }
          if (next > std::numeric_limits<std::int32_t>::max() || next < std::numeric_limits<std::int32_t>::min()) {
            auto st = errors::popgen_allele_overflow("an allele would leave int32 at generation " + std::to_string(t));
            return st.with_detail("generation", t);
          }
          a = static_cast<std::int32_t>(next);
          ++cohort->mutations;
        }
      }
      // Sex, then step 4: selection against theta of the birth generation.
      auto ss = Stream(seed_, rep_, t, Purpose::kSex, cu);
      auto sv = Stream(seed_, rep_, t, Purpose::kSurvival, cu);
      for (std::int64_t i = begin; i < end; ++i) {
        kid_female_[i] = ss.next_double() < p_.female_fraction;
        const std::int32_t* kid = &kids_[static_cast<std::size_t>(i) * stride];
        double w = 1.0;
        for (std::int32_t j = 0; j < n_; ++j) {
          const std::int64_t sum = static_cast<std::int64_t>(kid[2 * j]) + kid[2 * j + 1];
          double fj;
          if (!tables_[j].empty()) {
            fj = tables_[j][static_cast<std::size_t>(sum - table_lo_[j])];
          } else {
            const double d = static_cast<double>(sum) / 2.0 - theta_j(t, j);
            fj = det_exp(-rn_ * (d * d));
          }
          w = j == 0 ? fj : w * fj;
        }
        kid_w_[i] = w;
        wsum.add(w);
        if (sv.next_double() < w) {
          out->alleles.insert(out->alleles.end(), kid, kid + stride);
          out->female.push_back(kid_female_[i]);
          if (trace) trace->survived.push_back(1);
        } else if (trace) {
          trace->survived.push_back(0);
        }
      }
    }
    cohort->mean_w = B > 0 ? wsum.value() / static_cast<double>(B) : kNaN;
    if (trace) {
      trace->offspring_alleles.assign(kids_.begin(), kids_.begin() + static_cast<std::ptrdiff_t>(B * stride));
      trace->offspring_female.assign(kid_female_.begin(), kid_female_.begin() + B);
      trace->offspring_w.assign(kid_w_.begin(), kid_w_.begin() + B);
      trace->mutations = cohort->mutations;
      trace->blocked = cohort->blocked;
      trace->fecundity = f;
    }
    return core::Status::OK();
  }

 private:
  const Params& p_;
  std::uint64_t seed_, rep_;
  std::int32_t n_;
  double r_, rn_, log1m_u_ = 0;
  std::uint64_t cap_limit_;
  std::vector<double> phase_;
  std::vector<std::uint64_t> females_, males_, mothers_, mates_;
  std::vector<std::int32_t> kids_;
  std::vector<std::uint8_t> kid_female_;
  std::vector<double> kid_w_;
  std::vector<std::vector<double>> tables_;
  std::vector<std::int64_t> table_lo_;
};

/// Column buffers of the generation table.
struct Recorder {
  std::int32_t n;
  bool full;
  std::vector<std::int64_t> generation, births, mutations, blocked, survivors, females, males;
  std::vector<double> theta, mean_w, fecundity, mean_lag, msd, var_total;
  std::vector<std::uint8_t> births_valid, mean_w_valid, stats_valid;
  std::vector<double> mean_av, lag, var_av;
  std::vector<std::int64_t> subs;
  std::vector<std::int32_t> seg;
};

struct Row {
  std::int64_t t = 0, births = 0, mutations = 0, blocked = 0;
  bool has_births = false;
  double theta = 0, mean_w = kNaN, fecundity = kNaN, mean_lag = kNaN, msd = kNaN, var_total = kNaN;
  const Stats* stats = nullptr;
  std::vector<double> lag;
  std::vector<std::int64_t> subs;
};

void Append(Recorder* rec, const Row& row) {
  rec->generation.push_back(row.t);
  rec->theta.push_back(row.theta);
  rec->births.push_back(row.births);
  rec->births_valid.push_back(row.has_births);
  rec->mutations.push_back(row.mutations);
  rec->blocked.push_back(row.blocked);
  rec->mean_w.push_back(row.mean_w);
  rec->mean_w_valid.push_back(!std::isnan(row.mean_w));
  rec->survivors.push_back(row.stats->N);
  rec->females.push_back(row.stats->F);
  rec->males.push_back(row.stats->M);
  rec->fecundity.push_back(row.fecundity);
  const bool has = row.stats->N > 0;
  rec->stats_valid.push_back(has);
  rec->mean_lag.push_back(row.mean_lag);
  rec->msd.push_back(row.msd);
  rec->var_total.push_back(row.var_total);
  if (rec->full) {
    for (std::int32_t j = 0; j < rec->n; ++j) {
      rec->mean_av.push_back(has ? row.stats->mean_av[j] : 0.0);
      rec->lag.push_back(has ? row.lag[j] : 0.0);
      rec->var_av.push_back(has ? row.stats->var_av[j] : 0.0);
      rec->subs.push_back(row.subs[j]);
      rec->seg.push_back(row.stats->segregating[j]);
    }
  }
}

std::shared_ptr<arrow::Buffer> Bitmap(const std::vector<std::uint8_t>& valid) {
  auto buf = *arrow::AllocateBitmap(static_cast<std::int64_t>(valid.size()));
  for (std::size_t i = 0; i < valid.size(); ++i) arrow::bit_util::SetBitTo(buf->mutable_data(), static_cast<std::int64_t>(i), valid[i] != 0);
  return buf;
}

template <class ArrowType, class T>
std::shared_ptr<arrow::Array> MakeArray(const std::vector<T>& v, const std::vector<std::uint8_t>* valid = nullptr) {
  typename arrow::TypeTraits<ArrowType>::BuilderType b;
  arrow::Status st = valid ? b.AppendValues(v.data(), static_cast<std::int64_t>(v.size()), valid->data())
                           : b.AppendValues(v.data(), static_cast<std::int64_t>(v.size()));
  (void)st;  // appends into a fresh builder fail only on allocation failure, surfaced by Finish
  return *b.Finish();
}

std::shared_ptr<arrow::Array> MakeFsl(std::shared_ptr<arrow::Array> values, std::int32_t n,
                                      const std::vector<std::uint8_t>* valid) {
  std::shared_ptr<arrow::Buffer> bitmap;
  std::int64_t nulls = 0;
  if (valid) {
    bitmap = Bitmap(*valid);
    for (auto x : *valid) nulls += (x == 0);
    if (nulls == 0) bitmap = nullptr;
  }
  return *arrow::FixedSizeListArray::FromArrays(values, n, bitmap, nulls);
}

std::shared_ptr<arrow::RecordBatch> Finish(const Recorder& rec, std::uint64_t replicate, double T) {
  const auto rows = static_cast<std::int64_t>(rec.generation.size());
  std::vector<std::shared_ptr<arrow::Array>> cols;
  cols.push_back(MakeArray<arrow::UInt64Type>(std::vector<std::uint64_t>(rows, replicate)));
  cols.push_back(MakeArray<arrow::DoubleType>(std::vector<double>(rows, T)));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.generation));
  cols.push_back(MakeArray<arrow::DoubleType>(rec.theta));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.births, &rec.births_valid));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.mutations));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.blocked));
  cols.push_back(MakeArray<arrow::DoubleType>(rec.mean_w, &rec.mean_w_valid));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.survivors));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.females));
  cols.push_back(MakeArray<arrow::Int64Type>(rec.males));
  cols.push_back(MakeArray<arrow::DoubleType>(rec.fecundity, &rec.births_valid));
  cols.push_back(MakeArray<arrow::DoubleType>(rec.mean_lag, &rec.stats_valid));
  cols.push_back(MakeArray<arrow::DoubleType>(rec.msd, &rec.stats_valid));
  cols.push_back(MakeArray<arrow::DoubleType>(rec.var_total, &rec.stats_valid));
  if (rec.full) {
    cols.push_back(MakeFsl(MakeArray<arrow::DoubleType>(rec.mean_av), rec.n, &rec.stats_valid));
    cols.push_back(MakeFsl(MakeArray<arrow::DoubleType>(rec.lag), rec.n, &rec.stats_valid));
    cols.push_back(MakeFsl(MakeArray<arrow::DoubleType>(rec.var_av), rec.n, &rec.stats_valid));
    cols.push_back(MakeFsl(MakeArray<arrow::Int64Type>(rec.subs), rec.n, nullptr));
    cols.push_back(MakeFsl(MakeArray<arrow::Int32Type>(rec.seg), rec.n, nullptr));
  }
  return arrow::RecordBatch::Make(GenerationSchema(rec.n, rec.full ? Record::kFull : Record::kSummary), rows,
                                  std::move(cols));
}

std::shared_ptr<arrow::RecordBatch> FinalPopulation(const Adults& a, std::int32_t n) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(a.size()));
  std::vector<std::string> sex;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    idx[i] = i;
    sex.push_back(a.female[i] ? "female" : "male");
  }
  arrow::FieldVector fields{arrow::field("index", arrow::int64(), false), arrow::field("sex", arrow::utf8(), false)};
  std::vector<std::shared_ptr<arrow::Array>> cols{MakeArray<arrow::Int64Type>(idx)};
  arrow::StringBuilder sb;
  (void)sb.AppendValues(sex);
  cols.push_back(*sb.Finish());
  for (std::int32_t j = 0; j < n; ++j)
    for (int k = 0; k < 2; ++k) {
      std::vector<std::int32_t> v(static_cast<std::size_t>(a.size()));
      for (std::int64_t i = 0; i < a.size(); ++i) v[i] = a.alleles[(i * n + j) * 2 + k];
      fields.push_back(arrow::field((k == 0 ? "a_" : "b_") + std::to_string(j), arrow::int32(), false));
      cols.push_back(MakeArray<arrow::Int32Type>(v));
    }
  return arrow::RecordBatch::Make(arrow::schema(fields), a.size(), std::move(cols));
}

}  // namespace

std::shared_ptr<arrow::Schema> GenerationSchema(std::int32_t n, Record record) {
  arrow::FieldVector f{
      arrow::field("replicate", arrow::uint64(), false), arrow::field("T", arrow::float64(), false),
      arrow::field("generation", arrow::int64(), false), arrow::field("theta", arrow::float64(), false),
      arrow::field("births", arrow::int64()),            arrow::field("mutations", arrow::int64(), false),
      arrow::field("mutations_blocked", arrow::int64(), false), arrow::field("mean_w", arrow::float64()),
      arrow::field("survivors", arrow::int64(), false),  arrow::field("females", arrow::int64(), false),
      arrow::field("males", arrow::int64(), false),      arrow::field("fecundity", arrow::float64()),
      arrow::field("mean_lag", arrow::float64()),        arrow::field("msd", arrow::float64()),
      arrow::field("var_total", arrow::float64())};
  if (record == Record::kFull) {
    f.push_back(arrow::field("mean_av", arrow::fixed_size_list(arrow::float64(), n)));
    f.push_back(arrow::field("lag", arrow::fixed_size_list(arrow::float64(), n)));
    f.push_back(arrow::field("var_av", arrow::fixed_size_list(arrow::float64(), n)));
    f.push_back(arrow::field("substitutions", arrow::fixed_size_list(arrow::int64(), n), false));
    f.push_back(arrow::field("segregating", arrow::fixed_size_list(arrow::int32(), n), false));
  }
  return arrow::schema(f);
}

core::Status ValidateRun(const Params& p, const RunOptions& opts) {
  KILN_RETURN_NOT_OK(Validate(p));
  KILN_RETURN_NOT_OK(ValidateHorizon(opts.horizon));
  if (opts.record_every < 1) {
    auto st = errors::popgen_param_out_of_range("record_every=" + std::to_string(opts.record_every) + " must be >= 1");
    return st.with_detail("parameter", "record_every");
  }
  const std::uint64_t rows = static_cast<std::uint64_t>((opts.horizon + p.burn_in) / opts.record_every + 2);
  const std::uint64_t row_bytes = RecordRowBytes(p, opts.record);
  const std::uint64_t record_bytes = rows * row_bytes;
  if (record_bytes > opts.max_record_bytes) {
    const std::uint64_t suggest = (opts.horizon + p.burn_in) * row_bytes / std::max<std::uint64_t>(opts.max_record_bytes, 1) + 1;
    auto st = errors::popgen_record_too_large("the generation table would take " + std::to_string(record_bytes) +
                                              " bytes, over max_record_bytes=" + std::to_string(opts.max_record_bytes) +
                                              "; use record_every >= " + std::to_string(suggest));
    return st.with_detail("estimate", static_cast<std::int64_t>(record_bytes))
        .with_detail("record_every", static_cast<std::int64_t>(suggest));
  }
  const std::uint64_t est = MemoryEstimate(p, record_bytes);
  if (est > opts.max_memory_bytes) {
    // Largest K that fits: invert cap(K)*(16n+6) <= budget approximately (cap ~ 2K + 8 sqrt(2K)).
    const double per = 16.0 * p.n + 6.0;
    const double budget = static_cast<double>(opts.max_memory_bytes) - static_cast<double>(record_bytes) - (1 << 20);
    double k_fit = 0;
    for (double lo = 0, hi = 1e9, it = 0; it < 100; ++it) {
      const double mid = (lo + hi) / 2;
      if ((2 * mid + 8 * std::sqrt(2 * mid) + 1024) * per <= budget)
        lo = k_fit = mid;
      else
        hi = mid;
    }
    auto st = errors::popgen_memory_limit("one replicate needs an estimated " + std::to_string(est) +
                                          " bytes, over max_memory_bytes=" + std::to_string(opts.max_memory_bytes) +
                                          "; the largest K that fits is about " +
                                          std::to_string(static_cast<std::int64_t>(k_fit)));
    return st.with_detail("estimate", static_cast<std::int64_t>(est))
        .with_detail("largest_K", static_cast<std::int64_t>(k_fit));
  }
  if (opts.stop.min_N && *opts.stop.min_N < 0) return errors::popgen_param_out_of_range("stop min_N must be >= 0");
  return core::Status::OK();
}

core::Result<RunResult> RunReplicate(const Params& p, std::uint64_t seed, std::uint64_t replicate,
                                     const RunOptions& opts, std::stop_token stop, const std::atomic<bool>* abort) {
  KILN_RETURN_NOT_OK(ValidateRun(p, opts));
  const std::int32_t n = p.n;
  const std::uint64_t rows = static_cast<std::uint64_t>((opts.horizon + p.burn_in) / opts.record_every + 2);
  const std::uint64_t record_bytes = rows * RecordRowBytes(p, opts.record);
  const std::uint64_t cap_limit =
      (opts.max_memory_bytes - std::min(opts.max_memory_bytes, record_bytes + (1u << 20))) / (16 * n + 6);
  Model model(p, seed, replicate, cap_limit);
  RunResult res;
  res.seed = seed;
  res.replicate = replicate;
  res.T = p.T;
  res.horizon = opts.horizon;
  const bool recording = opts.record != Record::kOutcome;
  Recorder rec{n, opts.record == Record::kFull, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};

  const std::int64_t t0 = -p.burn_in, H = opts.horizon;
  Adults adults, next;
  model.Init(t0, &adults);
  Stats stats, next_stats;
  ComputeStats(adults, n, rec.full, &stats);
  std::vector<std::int64_t> runmax0(stats.min_allele.begin(), stats.min_allele.end()), runmax(runmax0);
  res.min_N = stats.N;

  std::int64_t sum_n_rows = 0;
  double sum_nk = 0, sum_msd = 0, sum_var = 0;
  std::int64_t n_stat_rows = 0;
  Row last;
  bool last_appended = false;

  auto make_row = [&](std::int64_t t, const Stats& s, const Model::Cohort* c) {
    Row row;
    row.t = t;
    row.theta = model.theta(t);
    row.stats = &s;
    if (c) {
      row.has_births = true;
      row.births = c->births;
      row.mutations = c->mutations;
      row.blocked = c->blocked;
      row.mean_w = c->mean_w;
      row.fecundity = c->fecundity;
    }
    row.subs.resize(n);
    for (std::int32_t j = 0; j < n; ++j) row.subs[j] = runmax[j] - runmax0[j];
    if (s.N > 0) {
      double lag_sum = 0, msd_sum = 0, var_sum = 0;
      row.lag.resize(n);
      for (std::int32_t j = 0; j < n; ++j) {
        const double th = model.theta_j(t, j);
        row.lag[j] = th - s.mean_av[j];
        lag_sum += row.lag[j];
        msd_sum += s.var_av[j] + row.lag[j] * row.lag[j];
        var_sum += s.var_av[j];
      }
      row.mean_lag = lag_sum / n;
      row.msd = msd_sum / n;
      row.var_total = var_sum;
    }
    return row;
  };
  auto record_row = [&](Row row) {
    const bool due = (row.t - t0) % opts.record_every == 0;
    if (recording && due) Append(&rec, row);
    last_appended = due;
    last = std::move(row);
  };
  record_row(make_row(t0, stats, nullptr));

  auto census_fails = [&](const Stats& s) -> const char* {
    if (s.N == 0) return "no_adults";
    if (s.F == 0) return "no_females";
    if (s.M == 0) return "no_males";
    if (s.N <= p.quasi_extinction) return "quasi";
    return nullptr;
  };

  std::int64_t t = t0;
  for (;;) {
    if (const char* cause = census_fails(stats)) {  // step 1 (and step 6 at t = H)
      res.outcome = "extinct";
      res.t_ext = t;
      res.extinction_cause = cause;
      break;
    }
    if (t == H) {
      res.outcome = "persisted";
      res.persisted = true;
      break;
    }
    if (stop.stop_requested() || (abort && abort->load(std::memory_order_relaxed))) {
      res.outcome = "error";
      res.error_code = static_cast<std::int32_t>(core::errors::Code::POPGEN_CANCELLED);
      res.error_message = "cancelled";
      break;
    }
    ++t;
    Model::Cohort cohort;
    auto st = model.Generate(t, adults, stats, &next, &cohort);
    if (!st.ok()) {
      res.outcome = "error";
      res.error_code = st.code();
      res.error_message = st.message();
      break;
    }
    ++res.generations_simulated;
    res.total_births += cohort.births;
    res.total_mutations += cohort.mutations;
    std::swap(adults, next);
    ComputeStats(adults, n, rec.full, &stats);
    if (stats.N > 0)
      for (std::int32_t j = 0; j < n; ++j) runmax[j] = std::max<std::int64_t>(runmax[j], stats.min_allele[j]);
    res.min_N = std::min(res.min_N, stats.N);
    Row row = make_row(t, stats, &cohort);
    if (t >= 1) {
      ++sum_n_rows;
      sum_nk += static_cast<double>(stats.N) / static_cast<double>(p.K);
      if (stats.N > 0) {
        ++n_stat_rows;
        sum_msd += row.msd;
        sum_var += row.var_total;
      }
    }
    const bool stop_now = (opts.stop.min_N && stats.N < *opts.stop.min_N) ||
                          (opts.stop.max_msd && stats.N > 0 && row.msd > *opts.stop.max_msd);
    record_row(std::move(row));
    if (stop_now && !census_fails(stats) && t < H) {
      res.outcome = "stopped";
      break;
    }
  }
  if (recording && !last_appended) Append(&rec, last);
  res.final_N = stats.N;
  res.mean_N_over_K = sum_n_rows ? sum_nk / static_cast<double>(sum_n_rows) : kNaN;
  res.mean_msd = n_stat_rows ? sum_msd / static_cast<double>(n_stat_rows) : kNaN;
  res.mean_var_total = n_stat_rows ? sum_var / static_cast<double>(n_stat_rows) : kNaN;
  res.substitutions.resize(n);
  for (std::int32_t j = 0; j < n; ++j) res.substitutions[j] = runmax[j] - runmax0[j];
  if (recording) res.generations = Finish(rec, replicate, p.T);
  if (opts.final_population) res.final_population = FinalPopulation(adults, n);
  return res;
}

core::Result<std::shared_ptr<arrow::RecordBatch>> RunsToBatch(const std::vector<RunResult>& runs) {
  arrow::UInt64Builder rep;
  arrow::DoubleBuilder T, nk, msd, var;
  arrow::Int64Builder hor, text, gens, fin, minn, births, muts;
  arrow::StringBuilder outcome, cause, code;
  arrow::BooleanBuilder pers;
  auto subs_values = std::make_shared<arrow::Int64Builder>();
  arrow::ListBuilder subs(arrow::default_memory_pool(), subs_values);
  auto dbl = [](arrow::DoubleBuilder& b, double v) { return std::isnan(v) ? b.AppendNull() : b.Append(v); };
  for (const auto& r : runs) {
    arrow::Status st;
    st &= rep.Append(r.replicate);
    st &= T.Append(r.T);
    st &= hor.Append(r.horizon);
    st &= outcome.Append(r.outcome);
    st &= pers.Append(r.persisted);
    st &= r.t_ext ? text.Append(*r.t_ext) : text.AppendNull();
    st &= r.extinction_cause.empty() ? cause.AppendNull() : cause.Append(r.extinction_cause);
    char buf[8];
    std::snprintf(buf, sizeof buf, "K%04d", r.error_code);
    st &= r.error_code == 0 ? code.AppendNull() : code.Append(buf);
    st &= gens.Append(r.generations_simulated);
    st &= fin.Append(r.final_N);
    st &= minn.Append(r.min_N);
    st &= births.Append(r.total_births);
    st &= muts.Append(r.total_mutations);
    st &= dbl(nk, r.mean_N_over_K);
    st &= dbl(msd, r.mean_msd);
    st &= dbl(var, r.mean_var_total);
    st &= subs.Append();
    st &= subs_values->AppendValues(r.substitutions);
    if (!st.ok()) return errors::internal_error(st.ToString());
  }
  arrow::FieldVector f{arrow::field("replicate", arrow::uint64(), false),
                       arrow::field("T", arrow::float64(), false),
                       arrow::field("horizon", arrow::int64(), false),
                       arrow::field("outcome", arrow::utf8(), false),
                       arrow::field("persisted", arrow::boolean(), false),
                       arrow::field("t_ext", arrow::int64()),
                       arrow::field("extinction_cause", arrow::utf8()),
                       arrow::field("error_code", arrow::utf8()),
                       arrow::field("generations_simulated", arrow::int64(), false),
                       arrow::field("final_N", arrow::int64(), false),
                       arrow::field("min_N", arrow::int64(), false),
                       arrow::field("total_births", arrow::int64(), false),
                       arrow::field("total_mutations", arrow::int64(), false),
                       arrow::field("mean_N_over_K", arrow::float64()),
                       arrow::field("mean_msd", arrow::float64()),
                       arrow::field("mean_var_total", arrow::float64()),
                       arrow::field("substitutions", arrow::list(arrow::int64()), false)};
  std::vector<std::shared_ptr<arrow::Array>> cols;
  cols.push_back(*rep.Finish());
  cols.push_back(*T.Finish());
  cols.push_back(*hor.Finish());
  cols.push_back(*outcome.Finish());
  cols.push_back(*pers.Finish());
  cols.push_back(*text.Finish());
  cols.push_back(*cause.Finish());
  cols.push_back(*code.Finish());
  cols.push_back(*gens.Finish());
  cols.push_back(*fin.Finish());
  cols.push_back(*minn.Finish());
  cols.push_back(*births.Finish());
  cols.push_back(*muts.Finish());
  cols.push_back(*nk.Finish());
  cols.push_back(*msd.Finish());
  cols.push_back(*var.Finish());
  cols.push_back(*subs.Finish());
  return arrow::RecordBatch::Make(arrow::schema(f), static_cast<std::int64_t>(runs.size()), std::move(cols));
}

core::Result<GenerationTrace> TraceGeneration(const Params& p, std::uint64_t seed, std::uint64_t replicate,
                                              std::int64_t t, const std::vector<std::int32_t>& alleles,
                                              const std::vector<std::uint8_t>& female) {
  KILN_RETURN_NOT_OK(Validate(p));
  if (alleles.size() != female.size() * 2 * static_cast<std::size_t>(p.n))
    return errors::popgen_param_conflict("alleles must hold 2n values per adult");
  Adults a{alleles, female}, out;
  Stats s;
  ComputeStats(a, p.n, false, &s);
  if (s.F == 0 || s.M == 0) return errors::popgen_param_conflict("the population needs a female and a male");
  Model model(p, seed, replicate, std::numeric_limits<std::uint64_t>::max() / 1024);
  GenerationTrace trace;
  Model::Cohort c;
  KILN_RETURN_NOT_OK(model.Generate(t, a, s, &out, &c, &trace));
  return trace;
}

}  // namespace kiln::popgen
