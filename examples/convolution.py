"""A convolution's backward derived from its forward, then a wrong backward caught and named.

1. symgrad.Conv2d's forward is one line of index notation:
       y[n,f,i,j] = b[f] + Σ_c,u,v W[f,c,u,v] x[n,c,2i+u-1, 2j+v-1]     (stride 2, pad 1)
   symgrad differentiates it entry by entry (Kronecker deltas), eliminates the
   deltas, and finds the vectorised form: dW is a correlation of x with dout;
   dx is a scatter-add, every window's dout·W added back where the window was
   read (overlapping windows add). Every step is proven against sympy.diff.
2. A cs231n-style convolution written with loops passes the three-way check.
3. The same backward with the stride forgotten fails, and the report names it.

Run: python examples/convolution.py
"""

from __future__ import annotations

import numpy as np

import symgrad


def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    f, _, hh, ww = w.shape
    oh, ow = 1 + (x.shape[2] + 2 * p - hh) // s, 1 + (x.shape[3] + 2 * p - ww) // s
    out = np.zeros((x.shape[0], f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * s : i * s + hh, j * s : j * s + ww]
            out[:, :, i, j] = np.tensordot(window, w, ([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache, forget_stride=False):
    x, w, _, conv_param = cache
    s, p = (1 if forget_stride else conv_param["stride"]), conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    _, _, hh, ww = w.shape
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xp[:, :, i * s : i * s + hh, j * s : j * s + ww]
            dw += np.tensordot(dout[:, :, i, j], window, ([0], [0]))
            dxp[:, :, i * s : i * s + hh, j * s : j * s + ww] += np.tensordot(dout[:, :, i, j], w, ([1], [0]))
    return dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def main() -> None:
    conv = symgrad.Conv2d(3, 4, 3, stride=2, pad=1)
    d = symgrad.derive(conv)
    print("1. The derivation of", d.title)
    print("  ", d.forward[0].lhs, "=", d.forward[0].rhs)
    for name in d.wrt:
        print(f"\n   dE/d{name}:")
        for step in d.steps(name)[0].substeps:
            print(f"     [{step.rule}] {step.lhs} = {step.rhs}")
    print("\n   every step proven against sympy.diff:", d.verified)

    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 3, 7, 7)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    params = {"w": w, "b": b, "conv_param": {"stride": 2, "pad": 1}}
    print("\n2. A loop-written convolution (cs231n's conv_forward_naive / conv_backward_naive):")
    print(symgrad.check_layer((conv_forward_naive, conv_backward_naive), conv, x=x, params=params))

    print("\n3. The same backward with the stride forgotten:")
    def wrong(dout, cache):
        return conv_backward_naive(dout, cache, forget_stride=True)

    print(symgrad.check_layer((conv_forward_naive, wrong), conv, x=x, params=params))


if __name__ == "__main__":
    main()
