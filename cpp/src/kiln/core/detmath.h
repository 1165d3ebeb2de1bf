// kiln::core::detmath: exp and log built from basic IEEE operations only, so native results do not
// depend on the libm version or FMA availability (popgen §5.3, arena §5.2, specs/README.md
// "Two det_exp implementations?"). Compile with -ffp-contract=off and never -ffast-math.
//
// det_exp follows arena §5.2 exactly (rint reduction by ln 2 split in two, degree-12 Horner
// Taylor polynomial, ldexp), which a numpy reference can reproduce bit for bit with elementwise
// operations. det_log and det_log1p are fdlibm's e_log.c and s_log1p.c (< 1 ulp).
#pragma once

namespace kiln::core::detmath {

/// e^x within 2 ulp; 0 below -745.2, +inf above 709.79, NaN for NaN.
double det_exp(double x);
/// Natural logarithm (fdlibm), -inf at 0, NaN below 0.
double det_log(double x);
/// log(1 + x) (fdlibm), accurate for small x; -inf at -1, NaN below -1.
double det_log1p(double x);
/// (sin x, cos x) for |x| <= 2^20 (arena §5.2; fdlibm kernel coefficients).
void det_sincos(double x, double* s, double* c);

}  // namespace kiln::core::detmath
