"""qdq.py: QDQ ONNX models written by hand (tests/int8), as ONNX Runtime's
quantize_static and PyTorch's exporter write them: an activation goes through
QuantizeLinear -> DequantizeLinear before the operators that read it; weights
are int8 initializers -> DequantizeLinear (per tensor or per output channel),
biases int32 initializers -> DequantizeLinear at input scale * weight scale.

    b = Builder([1, 3, 8, 8])                     # the float input, 'x'
    x = b.qdq('x', 0.02, 130)                     # uint8 (np.int8 for int8)
    w = b.weight(w_int8, w_scales)                # axis 0 when per channel
    y = b.node('Conv', [x, w, b.bias(b_int32, 0.02 * w_scales)], pads=[1] * 4)
    model = b.model(b.qdq(y, 0.05, 0), [1, 8, 8, 8])

`quantize` rounds half to even like QuantizeLinear, for the reference
arithmetic the tests do in numpy.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TYPES = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8, np.int32: TensorProto.INT32}


def quantize(x, scale, zp, dtype=np.uint8):
    info = np.iinfo(dtype)
    q = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


class Builder:
    def __init__(self, shape, opset=13):
        self.shape, self.opset = list(shape), opset
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, what):
        self.count += 1
        return '%s_%d' % (what, self.count)

    def const(self, array, what='c'):
        n = self.name(what)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + '_node', **attrs))
        return out

    def q(self, x, scale, zp, dtype=np.uint8, axis=None):
        extra = {} if axis is None else {'axis': axis}
        return self.node('QuantizeLinear', [x, self.const(np.float32(scale), 's'),
                                            self.const(np.asarray(zp, dtype), 'z')], **extra)

    def dq(self, x, scale, zp, dtype=np.uint8, axis=None):
        extra = {} if axis is None else {'axis': axis}
        return self.node('DequantizeLinear', [x, self.const(np.asarray(scale, np.float32), 's'),
                                              self.const(np.asarray(zp, dtype), 'z')], **extra)

    def qdq(self, x, scale, zp, dtype=np.uint8):
        return self.dq(self.q(x, scale, zp, dtype), scale, zp, dtype)

    def weight(self, w, scales, axis=0, zp=None):
        w = np.asarray(w)
        scales = np.asarray(scales, np.float32)
        zp = np.zeros(scales.shape, w.dtype) if zp is None else np.asarray(zp, w.dtype)
        return self.node('DequantizeLinear', [self.const(w, 'w'), self.const(scales, 's'),
                                              self.const(zp, 'z')],
                         **({'axis': axis} if scales.ndim else {}))

    def bias(self, b, scales):
        scales = np.asarray(scales, np.float32)
        return self.node('DequantizeLinear', [self.const(np.asarray(b, np.int32), 'b'),
                                              self.const(scales, 's'),
                                              self.const(np.zeros(scales.shape, np.int32), 'z')],
                         **({'axis': 0} if scales.ndim else {}))

    def model(self, out, out_shape):
        g = helper.make_graph(self.nodes, 'qdq',
                              [helper.make_tensor_value_info('x', TensorProto.FLOAT, self.shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', self.opset)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m
