// kiln-formula-bench: native evaluation of one compiled formula (specs/formula.md A.7, case N1),
// with no Python on top. Three subjects evaluate the same formula over the same rotating inputs:
//   kiln      Expression::evaluate_ieee on the compiled program (the scalar hot path)
//   muparser  muparser's bytecode Parser::Eval() on bound variables (the "ExprTk class" peer)
//   lambda    the expression written as C++ and compiled here, called out of line once per
//             evaluation (an evaluator cannot be inlined into its caller either)
// Prints one JSON object per formula on stdout with per-sample ns/eval for each subject and the
// bitwise agreement counts; `python -m kiln.bench formula` turns it into N1 records.
//
//   kiln-formula-bench [--evals N] [--samples S]
#include <muParser.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "kiln/core/json.h"
#include "kiln/formula/expression.h"

namespace {

using kiln::core::Json;

constexpr std::size_t kInputs = 1024;  // rotating inputs: no evaluation sees a constant
constexpr const char* kNames[4] = {"x", "y", "z", "w"};

struct Case {
  const char* id;
  const char* text;
  double (*compiled)(const double* v);  // x, y, z, w
};

[[gnu::noinline]] double N10(const double* v) { return (v[0] + v[1]) * (v[2] - v[3]) + std::sqrt(v[0]); }
[[gnu::noinline]] double M(const double* v) { return (v[0] * v[1]) + (v[2] / v[3]); }

const Case kCases[] = {{"N10", "(x + y) * (z - w) + sqrt(x)", N10}, {"M", "(x * y) + (z / w)", M}};

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "kiln-formula-bench: " << what << "\n";
  std::exit(2);
}

std::uint64_t Bits(double d) {
  std::uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

double NowNs() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Positive inputs in [0.5, 4.5): sqrt and division stay finite, every row differs.
std::vector<double> Inputs() {
  std::vector<double> in(kInputs * 4);
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  for (double& v : in) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    v = 0.5 + 4.0 * static_cast<double>(s >> 11) / 9007199254740992.0;
  }
  return in;
}

// ns per evaluation of `eval(row)` over `evals` evaluations; `sink` keeps the results live.
template <class Eval>
double TimeOne(std::int64_t evals, Eval&& eval, double* sink) {
  double acc = 0.0;
  const double t0 = NowNs();
  for (std::int64_t i = 0; i < evals; ++i) acc += eval(static_cast<std::size_t>(i) & (kInputs - 1));
  const double t1 = NowNs();
  *sink += acc;
  return (t1 - t0) / static_cast<double>(evals);
}

Json Samples(const std::vector<double>& v) { return Json(Json::Array(v.begin(), v.end())); }

}  // namespace

int main(int argc, char** argv) {
  std::int64_t evals = 2'000'000;
  int samples = 7;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--evals" && i + 1 < argc) {
      evals = std::atoll(argv[++i]);
    } else if (a == "--samples" && i + 1 < argc) {
      samples = std::atoi(argv[++i]);
    } else {
      Die("usage: kiln-formula-bench [--evals N] [--samples S]; got " + a);
    }
  }
  if (evals < 1 || samples < 1) Die("--evals and --samples must be positive");
  const std::vector<double> in = Inputs();
  double sink = 0.0;
  for (const Case& c : kCases) {
    auto compiled = kiln::formula::Expression::compile(c.text);
    if (!compiled.ok()) Die(compiled.status().message());
    const kiln::formula::Expression& expr = *compiled;
    // Row r's values in the kiln slot order of each variable.
    std::vector<int> slot_of(4, -1);
    for (const auto& v : expr.variables())
      for (int k = 0; k < 4; ++k)
        if (v.name == kNames[k]) slot_of[k] = static_cast<int>(v.slot);
    std::vector<double> kiln_rows(kInputs * 4);
    for (std::size_t r = 0; r < kInputs; ++r)
      for (int k = 0; k < 4; ++k)
        if (slot_of[k] >= 0) kiln_rows[r * 4 + static_cast<std::size_t>(slot_of[k])] = in[r * 4 + static_cast<std::size_t>(k)];

    double vars[4] = {0, 0, 0, 0};
    mu::Parser parser;
    try {
      for (int k = 0; k < 4; ++k) parser.DefineVar(kNames[k], &vars[k]);
      parser.SetExpr(c.text);
      parser.Eval();  // the first Eval parses and builds the bytecode; later ones run it
    } catch (const mu::Parser::exception_type& e) {
      Die("muparser: " + e.GetMsg());
    }

    auto kiln_eval = [&](std::size_t r) { return expr.evaluate_ieee(&kiln_rows[r * 4]); };
    auto mu_eval = [&](std::size_t r) {
      std::memcpy(vars, &in[r * 4], sizeof vars);
      return parser.Eval();
    };
    auto lambda_eval = [&](std::size_t r) { return c.compiled(&in[r * 4]); };

    // Correctness over every input row: kiln against the compiled C++ bit for bit; muparser's
    // disagreements are counted (it may use its own sqrt or fold differently).
    std::int64_t kiln_mismatch = 0, mu_mismatch = 0;
    for (std::size_t r = 0; r < kInputs; ++r) {
      const double want = lambda_eval(r);
      kiln_mismatch += Bits(kiln_eval(r)) != Bits(want);
      mu_mismatch += Bits(mu_eval(r)) != Bits(want);
    }

    std::vector<double> t_kiln, t_mu, t_lambda;
    TimeOne(evals / 4, kiln_eval, &sink);  // warm-up
    TimeOne(evals / 4, mu_eval, &sink);
    TimeOne(evals / 4, lambda_eval, &sink);
    for (int s = 0; s < samples; ++s) {  // interleaved, so drift hits every subject alike
      t_kiln.push_back(TimeOne(evals, kiln_eval, &sink));
      t_mu.push_back(TimeOne(evals, mu_eval, &sink));
      t_lambda.push_back(TimeOne(evals, lambda_eval, &sink));
    }
    const Json rec(Json::Object{
        {"case", Json(std::string("N1.") + c.id)},
        {"formula", Json(c.text)},
        {"evals_per_sample", Json(evals)},
        {"kiln_ns", Samples(t_kiln)},
        {"muparser_ns", Samples(t_mu)},
        {"lambda_ns", Samples(t_lambda)},
        {"muparser_version", Json(std::string(mu::ParserVersion))},
        {"rows_checked", Json(static_cast<std::int64_t>(kInputs))},
        {"kiln_mismatches", Json(kiln_mismatch)},
        {"muparser_mismatches", Json(mu_mismatch)}});
    std::cout << rec.Dump() << "\n";
  }
  if (sink == 42.0) std::cerr << "";  // keeps every timed result observable
  return 0;
}
