#include "kiln/core/program/vm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "kiln/core/program/exact_sum.h"
#include "kiln/core/program/ops.h"

namespace kiln::core::program {

double list_aggregate(int agg, const double* data, std::size_t n) {
  switch (static_cast<Lagg>(agg)) {
    case Lagg::sum: return exact_sum(data, n);
    case Lagg::avg: {
      if (n == 0) return ops::kNaN;
      ExactSum s;
      for (std::size_t i = 0; i < n; ++i) s.add(data[i]);
      return s.divided_by(n);
    }
    case Lagg::min: {
      if (n == 0) return ops::kNaN;
      double r = data[0];
      for (std::size_t i = 1; i < n; ++i) r = ops::minimum(r, data[i]);
      return r;
    }
    case Lagg::max: {
      if (n == 0) return ops::kNaN;
      double r = data[0];
      for (std::size_t i = 1; i < n; ++i) r = ops::maximum(r, data[i]);
      return r;
    }
    case Lagg::count: return static_cast<double>(n);
  }
  return ops::kNaN;
}

double run_scalar(const Program& p, const double* vars, const ListRef* lists) noexcept {
  double st[kMaxDepth + 1];
  int sp = 0;
  const double* pool = p.pool.data();
  for (const Item& it : p.items) {
    const Op op = static_cast<Op>(it.op);
    switch (op) {
      case Op::NOP: break;
      case Op::LIT: st[sp++] = pool[it.token]; break;
      case Op::VAR: st[sp++] = vars[it.token]; break;
      case Op::LAGG: st[sp++] = list_aggregate(it.arg0, lists[it.token].data, lists[it.token].size); break;
      case Op::ADD: --sp; st[sp - 1] = st[sp - 1] + st[sp]; break;
      case Op::SUB: --sp; st[sp - 1] = st[sp - 1] - st[sp]; break;
      case Op::MUL: --sp; st[sp - 1] = st[sp - 1] * st[sp]; break;
      case Op::DIV: --sp; st[sp - 1] = st[sp - 1] / st[sp]; break;
      case Op::NEG: st[sp - 1] = -st[sp - 1]; break;
      case Op::SQR: st[sp - 1] = st[sp - 1] * st[sp - 1]; break;
      // sqrt and abs are single instructions: inline here rather than through the generic
      // operand fetch and ops::apply's second switch (N10's sqrt cost half its evaluation).
      case Op::SQRT: st[sp - 1] = std::sqrt(st[sp - 1]); break;
      case Op::ABS: st[sp - 1] = std::fabs(st[sp - 1]); break;
      default: {
        const OpInfo* info = op_info(it.op);
        const int k = info->pops;
        double a = st[sp - k], b = k > 1 ? st[sp - k + 1] : 0.0, c = k > 2 ? st[sp - k + 2] : 0.0;
        sp -= k;
        st[sp++] = ops::apply(op, it.arg0, a, b, c);
      }
    }
  }
  return st[0];
}

namespace {
inline std::uint32_t FirstTag(std::uint32_t a, std::uint32_t b) { return a != 0 ? a : b; }
}  // namespace

StrictResult run_scalar_strict(const Program& p, const double* vars, const ListRef* lists) noexcept {
  double st[kMaxDepth + 1];
  std::uint32_t tg[kMaxDepth + 1];
  int sp = 0;
  const double* pool = p.pool.data();
  for (std::size_t i = 0; i < p.items.size(); ++i) {
    const Item& it = p.items[i];
    const Op op = static_cast<Op>(it.op);
    const std::uint32_t self = static_cast<std::uint32_t>(i + 1);
    switch (op) {
      case Op::NOP: break;
      case Op::LIT:
        st[sp] = pool[it.token];
        tg[sp] = std::isfinite(st[sp]) ? 0 : self;
        ++sp;
        break;
      case Op::VAR:
        st[sp] = vars[it.token];
        tg[sp] = std::isfinite(st[sp]) ? 0 : self;
        ++sp;
        break;
      case Op::LAGG: {
        const ListRef& l = lists[it.token];
        bool bad = false;
        for (std::size_t j = 0; j < l.size && !bad; ++j) bad = !std::isfinite(l.data[j]);
        double v = list_aggregate(it.arg0, l.data, l.size);
        st[sp] = v;
        tg[sp++] = (bad || !std::isfinite(v)) ? self : 0;
        break;
      }
      default: {
        const OpInfo* info = op_info(it.op);
        const int k = info->pops;
        const int base = sp - k;
        double a = st[base], b = k > 1 ? st[base + 1] : 0.0, c = k > 2 ? st[base + 2] : 0.0;
        std::uint32_t ta = tg[base], tb = k > 1 ? tg[base + 1] : 0, tc = k > 2 ? tg[base + 2] : 0;
        double r = ops::apply(op, it.arg0, a, b, c);
        std::uint32_t t;
        // Short-circuit forms report only errors of the operand whose value is used.
        if (op == Op::SELECT) {
          t = ta != 0 ? ta : (ops::truthy(a) ? tb : tc);
        } else if (op == Op::AND) {
          t = ta != 0 ? ta : (ops::truthy(a) ? tb : 0);
        } else if (op == Op::OR) {
          t = ta != 0 ? ta : (ops::truthy(a) ? 0 : tb);
        } else {
          t = FirstTag(FirstTag(ta, tb), tc);
          // clamp with lo > hi is finite but undefined (formula A.2.4): a domain error.
          if (t == 0 && (!std::isfinite(r) || (op == Op::CLAMP && b > c))) t = self;
        }
        sp = base;
        st[sp] = r;
        tg[sp++] = t;
      }
    }
  }
  return StrictResult{st[0], tg[0]};
}

ItemTrace trace_item(const Program& p, std::size_t k, const double* vars, const ListRef* lists) noexcept {
  double st[kMaxDepth + 1];
  int sp = 0;
  ItemTrace tr;
  for (std::size_t i = 0; i <= k && i < p.items.size(); ++i) {
    const Item& it = p.items[i];
    const Op op = static_cast<Op>(it.op);
    double r;
    switch (op) {
      case Op::NOP: continue;
      case Op::LIT: r = p.pool[it.token]; break;
      case Op::VAR: r = vars[it.token]; break;
      case Op::LAGG: r = list_aggregate(it.arg0, lists[it.token].data, lists[it.token].size); break;
      default: {
        const int n = op_info(it.op)->pops;
        sp -= n;
        if (i == k) {
          tr.n_operands = n;
          for (int j = 0; j < n; ++j) tr.operand[j] = st[sp + j];
        }
        r = ops::apply(op, it.arg0, st[sp], n > 1 ? st[sp + 1] : 0.0, n > 2 ? st[sp + 2] : 0.0);
      }
    }
    st[sp++] = r;
    if (i == k) tr.result = r;
  }
  return tr;
}

namespace {

template <class F>
inline void Binary(const double* a, const double* b, double* o, std::size_t n, F f) {
  for (std::size_t j = 0; j < n; ++j) o[j] = f(a[j], b[j]);
}
template <class F>
inline void Unary(const double* a, double* o, std::size_t n, F f) {
  for (std::size_t j = 0; j < n; ++j) o[j] = f(a[j]);
}

}  // namespace

void run_chunk(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t row0, std::size_t n,
               double* out, BatchScratch& scratch) noexcept {
  // Stack entries are column views; literals and broadcast scalars stay scalars (isc) until an
  // operator needs them as columns, so `x * dt` never fills a buffer with dt. Scalar-only
  // operations compute once with the same function the rows would use: the same bits.
  const double* ptr[kMaxDepth + 1];
  bool isc[kMaxDepth + 1];
  double cv[kMaxDepth + 1];
  int sp = 0;
  auto materialize = [&](int d) -> const double* {
    if (!isc[d]) return ptr[d];
    double* o = scratch.entry(d);
    std::fill(o, o + n, cv[d]);
    return o;
  };
  // The last item leaves the result at stack entry 0: it writes straight into `out` (a full alias
  // of an input is fine for these element-wise loops; partial overlaps are rejected upstream),
  // which saves a copy of every chunk.
  const Item* const last = p.items.empty() ? nullptr : &p.items.back();
  auto dest = [&](const Item& it, int d) -> double* { return &it == last && d == 0 ? out : scratch.entry(d); };
  for (const Item& it : p.items) {
    const Op op = static_cast<Op>(it.op);
    switch (op) {
      case Op::NOP: break;
      case Op::LIT:
        isc[sp] = true;
        cv[sp++] = p.pool[it.token];
        break;
      case Op::VAR: {
        const ColumnRef& c = cols[it.token];
        if (c.data != nullptr) {
          isc[sp] = false;
          ptr[sp++] = c.data + row0;
        } else {
          isc[sp] = true;
          cv[sp++] = c.scalar;
        }
        break;
      }
      case Op::LAGG: {
        double* o = dest(it, sp);
        const ListColumnRef& l = lists[it.token];
        for (std::size_t j = 0; j < n; ++j) {
          const std::int64_t b = l.offsets[row0 + j], e = l.offsets[row0 + j + 1];
          o[j] = list_aggregate(it.arg0, l.values + b, static_cast<std::size_t>(e - b));
        }
        isc[sp] = false;
        ptr[sp++] = o;
        break;
      }
      default: {
        const int k = op_info(it.op)->pops;
        const int base = sp - k;
        double* o = dest(it, base);
        bool all_const = true;
        for (int d = base; d < sp; ++d) all_const = all_const && isc[d];
        if (all_const) {
          cv[base] = ops::apply(op, it.arg0, cv[base], k > 1 ? cv[base + 1] : 0.0, k > 2 ? cv[base + 2] : 0.0);
          isc[base] = true;
          sp = base + 1;
          break;
        }
        // One broadcast operand of a common binary operator: a scalar loop, no fill.
        if (k == 2 && (isc[base] || isc[base + 1])) {
          const bool left = isc[base];
          const double s = left ? cv[base] : cv[base + 1];
          const double* v = left ? ptr[base + 1] : ptr[base];
          bool done = true;
#define KILN_VS(EXPR_L, EXPR_R)                                 \
  if (left) {                                                   \
    for (std::size_t j = 0; j < n; ++j) o[j] = (EXPR_L);        \
  } else {                                                      \
    for (std::size_t j = 0; j < n; ++j) o[j] = (EXPR_R);        \
  }
          switch (op) {
            case Op::ADD: KILN_VS(s + v[j], v[j] + s); break;
            case Op::SUB: KILN_VS(s - v[j], v[j] - s); break;
            case Op::MUL: KILN_VS(s * v[j], v[j] * s); break;
            case Op::DIV: KILN_VS(s / v[j], v[j] / s); break;
            case Op::LT: KILN_VS(ops::b2d(s < v[j]), ops::b2d(v[j] < s)); break;
            case Op::LE: KILN_VS(ops::b2d(s <= v[j]), ops::b2d(v[j] <= s)); break;
            case Op::GT: KILN_VS(ops::b2d(s > v[j]), ops::b2d(v[j] > s)); break;
            case Op::GE: KILN_VS(ops::b2d(s >= v[j]), ops::b2d(v[j] >= s)); break;
            default: done = false;
          }
#undef KILN_VS
          if (done) {
            isc[base] = false;
            ptr[base] = o;
            sp = base + 1;
            break;
          }
        }
        const double* a = materialize(base);
        const double* b = k > 1 ? materialize(base + 1) : nullptr;
        const double* c = k > 2 ? materialize(base + 2) : nullptr;
        switch (op) {
          case Op::ADD: Binary(a, b, o, n, [](double x, double y) { return x + y; }); break;
          case Op::SUB: Binary(a, b, o, n, [](double x, double y) { return x - y; }); break;
          case Op::MUL: Binary(a, b, o, n, [](double x, double y) { return x * y; }); break;
          case Op::DIV: Binary(a, b, o, n, [](double x, double y) { return x / y; }); break;
          case Op::NEG: Unary(a, o, n, [](double x) { return -x; }); break;
          case Op::SQR: Unary(a, o, n, [](double x) { return x * x; }); break;
          case Op::ABS: Unary(a, o, n, [](double x) { return std::fabs(x); }); break;
          case Op::SQRT: Unary(a, o, n, [](double x) { return std::sqrt(x); }); break;
          case Op::LT: Binary(a, b, o, n, [](double x, double y) { return ops::b2d(x < y); }); break;
          case Op::LE: Binary(a, b, o, n, [](double x, double y) { return ops::b2d(x <= y); }); break;
          case Op::GT: Binary(a, b, o, n, [](double x, double y) { return ops::b2d(x > y); }); break;
          case Op::GE: Binary(a, b, o, n, [](double x, double y) { return ops::b2d(x >= y); }); break;
          case Op::EQ: Binary(a, b, o, n, [](double x, double y) { return ops::b2d(x == y); }); break;
          case Op::NE: Binary(a, b, o, n, [](double x, double y) { return ops::b2d(x != y); }); break;
          case Op::MIN: Binary(a, b, o, n, [](double x, double y) { return ops::minimum(x, y); }); break;
          case Op::MAX: Binary(a, b, o, n, [](double x, double y) { return ops::maximum(x, y); }); break;
          case Op::SELECT:
            // Both branches are already computed; a select per row (no branch to mispredict).
            for (std::size_t j = 0; j < n; ++j) o[j] = a[j] == 0.0 ? c[j] : b[j];
            break;
          default:
            for (std::size_t j = 0; j < n; ++j)
              o[j] = ops::apply(op, it.arg0, a[j], b ? b[j] : 0.0, c ? c[j] : 0.0);
        }
        isc[base] = false;
        ptr[base] = o;
        sp = base + 1;
      }
    }
  }
  if (isc[0]) {
    std::fill(out, out + n, cv[0]);
  } else if (ptr[0] != out) {
    std::memmove(out, ptr[0], n * sizeof(double));
  }
}

bool run_batch(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t n, double* out,
               int threads, bool (*cancelled)(void*), void* cancel_arg) {
  const int depth = p.max_depth();
  const std::size_t rows_per_task = kChunkRows * kChunksPerTask;
  const std::size_t n_tasks = (n + rows_per_task - 1) / rows_per_task;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&](bool poll) {
    BatchScratch scratch(depth);
    for (;;) {
      if (stop.load(std::memory_order_relaxed)) return;
      std::size_t t = next.fetch_add(1);
      if (t >= n_tasks) return;
      const std::size_t end = std::min(n, (t + 1) * rows_per_task);
      for (std::size_t r = t * rows_per_task; r < end; r += kChunkRows)
        run_chunk(p, cols, lists, r, std::min(kChunkRows, end - r), out + r, scratch);
      if (poll && cancelled != nullptr && (t % 8) == 7 && cancelled(cancel_arg)) stop.store(true);
    }
  };
  int nt = (n >= kParallelRows && threads > 1) ? static_cast<int>(std::min<std::size_t>(threads, n_tasks)) : 1;
  std::vector<std::thread> pool;
  for (int i = 1; i < nt; ++i) pool.emplace_back(worker, false);
  worker(true);
  for (auto& t : pool) t.join();
  return !stop.load();
}

void gather_row(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t row, double* vars,
                ListRef* list_refs) {
  for (std::uint32_t s = 0; s < p.n_vars; ++s) vars[s] = cols[s].data ? cols[s].data[row] : cols[s].scalar;
  for (std::uint32_t s = 0; s < p.n_lists; ++s) {
    const std::int64_t b = lists[s].offsets[row], e = lists[s].offsets[row + 1];
    list_refs[s] = ListRef{lists[s].values + b, static_cast<std::size_t>(e - b)};
  }
}

std::size_t run_batch_strict(const Program& p, const ColumnRef* cols, const ListColumnRef* lists, std::size_t n,
                             double* out, std::size_t* first_row, std::uint32_t* first_tag,
                             const std::uint8_t* valid) {
  std::vector<double> vars(p.n_vars + 1);
  std::vector<ListRef> lrefs(p.n_lists + 1);
  std::vector<double> tmp(out, out + n);
  std::size_t failed = 0;
  for (std::size_t r = 0; r < n; ++r) {
    if (valid != nullptr && valid[r] == 0) continue;
    gather_row(p, cols, lists, r, vars.data(), lrefs.data());
    StrictResult res = run_scalar_strict(p, vars.data(), lrefs.data());
    if (res.tag != 0) {
      if (failed++ == 0) {
        *first_row = r;
        *first_tag = res.tag;
      }
    } else {
      tmp[r] = res.value;
    }
  }
  if (failed == 0 && n > 0) std::memcpy(out, tmp.data(), n * sizeof(double));
  return failed;
}

}  // namespace kiln::core::program
