"""Writes independent.ipynb: a second correct solution of the numnet assignment, written from the release
notebook alone (no look at numnet_ref): explicit activation lists instead of a backprop helper, einsum over kernel
offsets instead of im2col, loops over output pixels in MaxPooling, np.add.at-free scatter by argmax.

    python tests/gradebot/similarity_fixtures/make_independent.py     # from the repository root

Each body below replaces the stub ("# ВАШ КОД ЗДЕСЬ" and the line after it) of one function of one release cell.
"""

import os
import sys
import textwrap

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
RELEASE = os.path.join(ROOT, "release", "numnet", "numnet.ipynb")

BODIES = {
    ("network", "grad_x"): """
        acts = [np.asarray(input_data)]
        for lay in self.layers:
            acts.append(lay.forward(acts[-1]))
        delta = self._require_loss().grad_x(acts[-1], labels)
        for idx in reversed(range(len(self.layers))):
            delta, _ = self.layers[idx].backward(acts[idx], delta)
        return delta
    """,
    ("network", "grad_param"): """
        acts = [np.asarray(input_data)]
        for lay in self.layers:
            acts.append(lay.forward(acts[-1]))
        batch = acts[0].shape[0]
        delta = self._require_loss().grad_x(acts[-1], labels) / batch
        collected = []
        for idx in range(len(self.layers) - 1, -1, -1):
            if idx == 0:
                collected.append(self.layers[0].backward_params(acts[0], delta))
            else:
                delta, layer_grads = self.layers[idx].backward(acts[idx], delta)
                collected.append(layer_grads)
        collected.reverse()
        return collected
    """,
    ("network", "update"): """
        if self.optimizer is None:
            for lay, layer_grads in zip(self.layers, grad_list):
                if len(layer_grads) > 0:
                    lay.update_param(layer_grads, learning_rate)
        else:
            all_params, all_grads = [], []
            for lay, layer_grads in zip(self.layers, grad_list):
                all_params.extend(lay.params)
                all_grads.extend(layer_grads)
            self.optimizer.apply(all_params, all_grads)
    """,
    ("dense", "forward"): """
        inp = self._check(input_data)
        return np.dot(inp, self.W) + self.b[np.newaxis, :]
    """,
    ("dense", "backward"): """
        inp = self._check(input_data)
        go = np.asarray(grad_output)
        d_w = np.einsum('bi,bo->io', inp, go)
        d_b = np.sum(go, axis=0)
        d_in = np.einsum('bo,io->bi', go, self.W)
        return d_in, [d_w, d_b]
    """,
    ("dense", "grad_x"): """
        inp = self._check(input_data)
        return np.broadcast_to(self.W.T, (inp.shape[0],) + self.W.T.shape).copy()
    """,
    ("dense", "grad_W"): """
        inp = self._check(input_data)
        batch = inp.shape[0]
        jac = np.zeros((batch, self.output_dim, self.input_dim, self.output_dim), dtype=np.result_type(inp, self.W))
        for o in range(self.output_dim):
            jac[:, o, :, o] = inp
        return jac.reshape(batch, self.output_dim, self.input_dim * self.output_dim)
    """,
    ("dense", "grad_b"): """
        inp = self._check(input_data)
        return np.tile(np.identity(self.output_dim, dtype=self.b.dtype), (inp.shape[0], 1, 1))
    """,
    ("relu", "forward"): """
        arr = np.asarray(input_data)
        return np.where(arr > 0, arr, np.zeros_like(arr))
    """,
    ("relu", "backward"): """
        go = np.asarray(grad_output)
        mask = (np.asarray(input_data) > 0).astype(go.dtype)
        return mask * go, []
    """,
    ("relu", "grad_x"): """
        arr = np.asarray(input_data)
        flat = (arr.reshape(arr.shape[0], -1) > 0).astype(arr.dtype)
        return np.stack([np.diag(row) for row in flat])
    """,
    ("softmax", "forward"): """
        z = np.asarray(input_data)
        if z.ndim != 2:
            raise ValueError('Softmax: нужен вход формы (batch, classes), а пришёл %s' % (z.shape,))
        shifted = z - np.max(z, axis=-1, keepdims=True)
        expz = np.exp(shifted)
        return expz / np.sum(expz, axis=-1, keepdims=True)
    """,
    ("softmax", "backward"): """
        s = self.forward(input_data)
        go = np.asarray(grad_output)
        dot = np.einsum('bi,bi->b', go, s)
        return s * (go - dot[:, None]), []
    """,
    ("softmax", "grad_x"): """
        s = self.forward(input_data)
        jac = -np.einsum('bi,bj->bij', s, s)
        diag = np.arange(s.shape[1])
        jac[:, diag, diag] += s
        return jac
    """,
    ("flatten", "forward"): """
        arr = np.asarray(input_data)
        return arr.reshape(arr.shape[0], -1)
    """,
    ("flatten", "backward"): """
        return np.reshape(grad_output, np.shape(input_data)), []
    """,
    ("flatten", "grad_x"): """
        arr = np.asarray(input_data)
        size = int(np.prod(arr.shape[1:]))
        return np.tile(np.eye(size, dtype=arr.dtype)[None], (arr.shape[0], 1, 1))
    """,
    ("maxpooling", "forward"): """
        arr, (ph, pw), (sh, sw), (oh, ow) = pool_geometry(self, input_data)
        n, c = arr.shape[:2]
        res = np.empty((n, c, oh, ow), dtype=arr.dtype)
        for r in range(oh):
            for q in range(ow):
                patch = arr[:, :, r * sh:r * sh + ph, q * sw:q * sw + pw]
                res[:, :, r, q] = patch.reshape(n, c, -1).max(axis=2)
        return res
    """,
    ("maxpooling", "backward"): """
        arr, (ph, pw), (sh, sw), (oh, ow) = pool_geometry(self, input_data)
        go = np.asarray(grad_output)
        n, c = arr.shape[:2]
        d_in = np.zeros(arr.shape, dtype=np.result_type(arr, go))
        bi, ci = np.meshgrid(np.arange(n), np.arange(c), indexing='ij')
        for r in range(oh):
            for q in range(ow):
                patch = arr[:, :, r * sh:r * sh + ph, q * sw:q * sw + pw].reshape(n, c, -1)
                first = patch.argmax(axis=2)
                rows, cols = r * sh + first // pw, q * sw + first % pw
                d_in[bi, ci, rows, cols] += go[:, :, r, q]
        return d_in, []
    """,
    ("maxpooling", "grad_x"): """
        return jacobian_from_backward(self, input_data)
    """,
    ("conv_helpers", None): """
        def pool_geometry(layer, input_data):
            \"\"\"The checked input, pool size, strides and output size of a MaxPooling layer.\"\"\"
            arr = _checks.images(input_data, None, 'MaxPooling')
            (ph, pw), (sh, sw) = layer.pool_size, layer.strides
            if arr.shape[2] < ph or arr.shape[3] < pw:
                raise ValueError('MaxPooling: вход %s меньше окна %s' % (arr.shape, layer.pool_size))
            return arr, (ph, pw), (sh, sw), ((arr.shape[2] - ph) // sh + 1, (arr.shape[3] - pw) // sw + 1)


        def strided(a, s, count):
            \"\"\"Slice starting at a, every s-th element, count elements.\"\"\"
            return slice(a, a + (count - 1) * s + 1, s)


        def conv_geometry(layer, arr):
            \"\"\"Padded input, (top, left) padding and output size of a Conv2DLayer on arr.\"\"\"
            k, s = layer.kernel_size, layer.stride
            hh, ww = arr.shape[2:]
            if layer.padding == 'same':
                oh, ow = -(-hh // s), -(-ww // s)
                extra_h = max((oh - 1) * s + k - hh, 0)
                extra_w = max((ow - 1) * s + k - ww, 0)
                top, left = extra_h // 2, extra_w // 2
                arr = np.pad(arr, ((0, 0), (0, 0), (top, extra_h - top), (left, extra_w - left)))
                return arr, (top, left), (oh, ow)
            if hh < k or ww < k:
                raise ValueError('Conv2D: вход %s меньше ядра %d' % (arr.shape, k))
            return arr, (0, 0), ((hh - k) // s + 1, (ww - k) // s + 1)


        def crop_full(img, before, after):
            \"\"\"Crop ``before`` pixels at the top/left and ``after`` at the bottom/right (negative: pad).\"\"\"
            if after < 0:
                img = np.pad(img, ((0, 0), (0, 0), (0, -after), (0, -after)))
                after = 0
            hh, ww = img.shape[2:]
            return img[:, :, before:hh - after, before:ww - after]
    """,
    ("conv2d", "forward"): """
        arr = self._input(input_data)
        padded, _, (oh, ow) = conv_geometry(self, arr)
        k, s = self.kernel_size, self.stride
        res = np.zeros((arr.shape[0], self.output_channels, oh, ow), dtype=np.result_type(arr, self.kernel))
        for a in range(k):
            for b in range(k):
                patch = padded[:, :, strided(a, s, oh), strided(b, s, ow)]
                res += np.einsum('nchw,co->nohw', patch, self.kernel[a, b])
        return res + self.bias.reshape(1, -1, 1, 1)
    """,
    ("conv2d", "backward"): """
        arr = self._input(input_data)
        padded, (top, left), (oh, ow) = conv_geometry(self, arr)
        go = np.asarray(grad_output)
        k, s = self.kernel_size, self.stride
        d_pad = np.zeros(padded.shape, dtype=np.result_type(padded, go, self.kernel))
        d_kernel = np.zeros(self.kernel.shape, dtype=np.result_type(padded, go))
        for a in range(k):
            for b in range(k):
                where = (slice(None), slice(None), strided(a, s, oh), strided(b, s, ow))
                d_pad[where] += np.einsum('nohw,co->nchw', go, self.kernel[a, b])
                d_kernel[a, b] = np.einsum('nchw,nohw->co', padded[where], go)
        d_in = d_pad[:, :, top:top + arr.shape[2], left:left + arr.shape[3]]
        return d_in, [d_kernel, go.sum(axis=(0, 2, 3))]
    """,
    ("conv2dtr", "forward"): """
        arr = self._input(input_data)
        self._check_size(arr)
        n, c, hh, ww = arr.shape
        k, s = self.kernel_size, self.stride
        full = np.zeros((n, self.output_channels, (hh - 1) * s + k, (ww - 1) * s + k),
                        dtype=np.result_type(arr, self.kernel))
        for a in range(k):
            for b in range(k):
                stamp = np.einsum('nchw,co->nohw', arr, self.kernel[a, b])
                full[:, :, strided(a, s, hh), strided(b, s, ww)] += stamp
        before, after = self._crop
        return crop_full(full, before, after) + self.bias.reshape(1, -1, 1, 1)
    """,
    ("conv2dtr", "backward"): """
        arr = self._input(input_data)
        self._check_size(arr)
        go = np.asarray(grad_output)
        n, c, hh, ww = arr.shape
        k, s = self.kernel_size, self.stride
        fh, fw = (hh - 1) * s + k, (ww - 1) * s + k
        before = self._crop[0]
        g_full = np.zeros((n, self.output_channels, fh, fw), dtype=go.dtype)
        rows, cols = min(fh, before + go.shape[2]) - before, min(fw, before + go.shape[3]) - before
        g_full[:, :, before:before + rows, before:before + cols] = go[:, :, :rows, :cols]
        d_in = np.zeros(arr.shape, dtype=np.result_type(arr, go, self.kernel))
        d_kernel = np.zeros(self.kernel.shape, dtype=np.result_type(arr, go))
        for a in range(k):
            for b in range(k):
                g = g_full[:, :, strided(a, s, hh), strided(b, s, ww)]
                d_in += np.einsum('nohw,co->nchw', g, self.kernel[a, b])
                d_kernel[a, b] = np.einsum('nchw,nohw->co', arr, g)
        return d_in, [d_kernel, go.sum(axis=(0, 2, 3))]
    """,
    ("crossentropy", "forward"): """
        probs, target = self._check(input_data, labels)
        clipped = np.clip(probs, self.eps, None)
        return -(target * np.log(clipped)).sum(axis=-1)
    """,
    ("crossentropy", "grad_x"): """
        probs, target = self._check(input_data, labels)
        res = np.zeros(probs.shape, dtype=np.result_type(probs, target, np.float32))
        ok = probs >= self.eps
        res[ok] = -target[ok] / probs[ok]
        return res
    """,
    ("optimizers", "SGD"): """
        if self.momentum == 0:
            for i in range(len(params)):
                params[i] -= self.learning_rate * grads[i]
            return
        vel, = self._state(params, 1)
        for prm, grd, mv in zip(params, grads, vel):
            mv[...] = self.momentum * mv - self.learning_rate * grd
            if self.nesterov:
                prm += self.momentum * mv - self.learning_rate * grd
            else:
                prm += mv
    """,
    ("optimizers", "RMSprop"): """
        acc, = self._state(params, 1)
        for prm, grd, sq in zip(params, grads, acc):
            sq *= self.rho
            sq += (1 - self.rho) * np.square(grd)
            prm -= self.learning_rate * grd / np.sqrt(sq + self.epsilon)
    """,
    ("optimizers", "Adagrad"): """
        acc, = self._state(params, 1, self.initial_accumulator_value)
        for prm, grd, total in zip(params, grads, acc):
            total += grd ** 2
            prm -= self.learning_rate * grd / np.sqrt(total + self.epsilon)
    """,
    ("optimizers", "Adam"): """
        first, second = self._state(params, 2)
        t = self.iterations + 1
        corr = self.learning_rate * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for prm, grd, m1, m2 in zip(params, grads, first, second):
            m1 += (1 - self.beta_1) * (grd - m1)
            m2 += (1 - self.beta_2) * (np.square(grd) - m2)
            prm -= corr * m1 / (np.sqrt(m2) + self.epsilon)
    """,
}


def fill(source, name, body):
    """Replace the stub after ``def name(`` (or ``class name(`` then its first stub; None: the cell's stub)."""
    lines = source.split("\n")
    start = 0
    if name is not None:
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith((f"def {name}(", f"class {name}(")))
    stub = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("# ВАШ КОД ЗДЕСЬ"))
    indent = lines[stub][: len(lines[stub]) - len(lines[stub].lstrip())]
    new = [indent + line if line.strip() else "" for line in textwrap.dedent(body).strip("\n").split("\n")]
    lines[stub : stub + 2] = new
    return "\n".join(lines)


def build(release=RELEASE):
    nb = nbformat.read(release, as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for (gid, name), body in BODIES.items():
        cells[gid].source = fill(cells[gid].source, name, body)
    return nb


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "independent.ipynb")
    nbformat.write(build(), out)
    print("wrote", out)
