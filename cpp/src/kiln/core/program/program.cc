#include "kiln/core/program/program.h"

#include <string>

#include "kiln/core/error_codes.h"

namespace kiln::core::program {

namespace {
Status Bad(std::size_t i, const std::string& what) {
  return errors::core_invalid_argument("program item " + std::to_string(i) + ": " + what);
}
}  // namespace

Status Program::check() const {
  if (isa != Isa::arith) return errors::core_invalid_argument("program: only the arith ISA is checked here");
  if (items.size() > 65536) return errors::core_invalid_argument("program: more than 65,536 items");
  int depth = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    const OpInfo* info = op_info(it.op);
    if (info == nullptr) return Bad(i, "unknown opcode " + std::to_string(it.op));
    if (info->isa == Isa::embed) return Bad(i, std::string(info->name) + " is an embed opcode");
    if (static_cast<Op>(it.op) == Op::NOP) continue;
    if (domain == Domain::f64 && !info->f64) return Bad(i, std::string(info->name) + " is not valid in the f64 domain");
    if (domain == Domain::i64 && !info->i64) return Bad(i, std::string(info->name) + " is not valid in the i64 domain");
    if ((it.flags & ~(kFlagFrozen | kFlagInserted)) != 0) return Bad(i, "reserved flag bits set");
    switch (static_cast<Op>(it.op)) {
      case Op::LIT:
        if (it.token >= pool.size()) return Bad(i, "constant index out of range");
        break;
      case Op::VAR:
        if (it.token >= n_vars) return Bad(i, "variable slot out of range");
        break;
      case Op::LAGG:
        if (it.token >= n_lists) return Bad(i, "list slot out of range");
        if (it.arg0 < 0 || it.arg0 >= static_cast<int>(kLaggNames.size())) return Bad(i, "aggregate id out of range");
        break;
      case Op::FN1:
        if (it.arg0 < 0 || it.arg0 >= static_cast<int>(kFn1Names.size())) return Bad(i, "function id out of range");
        break;
      case Op::FN2:
        if (it.arg0 < 0 || it.arg0 >= static_cast<int>(kFn2Names.size())) return Bad(i, "function id out of range");
        break;
      case Op::ROUNDN:
        if (it.arg0 < -308 || it.arg0 > 308) return Bad(i, "digits out of [-308, 308]");
        break;
      case Op::SHL:
        if (it.arg0 < 0 || it.arg0 > 63) return Bad(i, "shift out of [0, 63]");
        break;
      default:
        break;
    }
    if (depth < info->pops) return Bad(i, "stack underflow");
    depth += info->pushes - info->pops;
    if (depth > kMaxDepth) return Bad(i, "stack deeper than 256");
  }
  if (depth != 1) return errors::core_invalid_argument("program: final stack depth is " + std::to_string(depth) + ", not 1");
  return Status::OK();
}

int Program::max_depth() const {
  int depth = 0, best = 0;
  for (const Item& it : items) {
    const OpInfo* info = op_info(it.op);
    if (info == nullptr) continue;
    depth += info->pushes - info->pops;
    if (depth > best) best = depth;
  }
  return best;
}

}  // namespace kiln::core::program
