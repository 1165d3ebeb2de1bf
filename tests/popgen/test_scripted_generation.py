"""§11 item 4: one §2.5 generation from a hand-built 4-adult population, against draws scripted
here from the raw Philox streams with the kernel's samplers written out in Python."""
import numpy as np

from kiln import _kiln, popgen
from kiln.popgen.reference import BIRTHS, GAMETES, PARENTS, SEX, SURVIVAL, stream_counter

SEED, REP, T_GEN = 9, 4, 3


class Raw:
    def __init__(self, purpose):
        self.words = _kiln.philox_raw(SEED, REP, list(stream_counter(T_GEN, purpose, 0)), 4096)
        self.i = 0

    def u64(self):
        self.i += 1
        return self.words[self.i - 1]

    def double(self):
        return (self.u64() >> 11) * 2.0**-53

    def bounded(self, m):  # Lemire multiply-shift with rejection
        x = self.u64()
        prod = x * m
        low = prod & (2**64 - 1)
        if low < m:
            thr = (2**64 - m) % m
            while low < thr:
                x = self.u64()
                prod = x * m
                low = prod & (2**64 - 1)
        return prod >> 64


def test_one_generation_exactly():
    p = popgen.Params(K=1000, n=2, u=0.0, R=3.0, T=2.0)
    alleles = [0, 1, 2, 2,   1, 1, 0, 3,   2, 0, 1, 1,   3, 3, 0, 0]  # [i][j][copy]
    female = [1, 0, 1, 0]
    tr = _kiln.popgen_trace_generation(p.to_native(), SEED, REP, T_GEN, alleles, female)
    f = _kiln.popgen_fecundity(p.to_native(), [4])[0]
    assert tr["fecundity"] == f
    lam = 2 * f
    u = Raw(BIRTHS).double()
    prob = _kiln.det_math("exp", [-lam])[0]
    cdf, B = prob, 0
    while u > cdf:
        B += 1
        prob *= lam / B
        cdf += prob
    assert len(tr["offspring_w"]) == B and B > 0
    par, gam, sex, surv = Raw(PARENTS), Raw(GAMETES), Raw(SEX), Raw(SURVIVAL)
    A = np.array(alleles).reshape(4, 2, 2)
    fem, mal = [0, 2], [1, 3]
    kids, sexes, survived, sums = [], [], [], []
    for _ in range(B):
        mother, father = fem[par.bounded(2)], mal[par.bounded(2)]
        g = gam.u64()
        kid = [[A[mother, j, (g >> j) & 1], A[father, j, (g >> (32 + j)) & 1]] for j in range(2)]
        kids += [x for pair in kid for x in pair]
        sums.append([kid[0][0] + kid[0][1], kid[1][0] + kid[1][1]])
        sexes.append(int(sex.double() < 0.5))
    w = _kiln.popgen_survival(p.to_native(), T_GEN, [s for pair in sums for s in pair])
    for wi in w:
        survived.append(int(surv.double() < wi))
    assert tr["offspring_alleles"] == kids
    assert tr["offspring_female"] == sexes
    assert tr["offspring_w"] == w
    assert tr["survived"] == survived
    assert tr["mutations"] == 0 and tr["blocked"] == 0
