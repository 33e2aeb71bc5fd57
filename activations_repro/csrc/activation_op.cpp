// Exponential and Rational as one PyTorch operator registered in C++, for eager calls on the CPU: forward and backward
// reach the C kernels (scaled_negative.h) without running Python, as nn.PReLU's do. Python hands over the kernels'
// addresses once it has loaded them (`set_kernels`), so this file is compiled for the PyTorch installed, not for the CPU.
// Second derivatives go through the Python custom op `activations_repro::scaled_negative_backward`, which has its own.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/InferenceMode.h>
#include <torch/library.h>
#include <torch/csrc/autograd/custom_function.h>
#include <algorithm>
#include <string>
#include <unordered_map>

using at::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <class T> using Fwd = int (*)(const T*, T*, const T*, const T*, int, int64_t, int64_t, int64_t, int);
template <class T> using Bwd = int (*)(const T*, const T*, const T*, const T*, T*, T*, int, int64_t, int64_t, int64_t, int);
static Fwd<float> fwd32 = nullptr; static Fwd<double> fwd64 = nullptr;
static Bwd<float> bwd32 = nullptr; static Bwd<double> bwd64 = nullptr;

// the addresses of ar_fwd_f32, ar_fwd_f64, ar_bwd_f32, ar_bwd_f64 in the loaded C library
static void set_kernels(std::vector<int64_t> p) {
  TORCH_CHECK(p.size() == 4 && p[0] && p[1] && p[2] && p[3], "set_kernels expects the 4 kernels' addresses");
  fwd32 = (Fwd<float>)p[0]; fwd64 = (Fwd<double>)p[1]; bwd32 = (Bwd<float>)p[2]; bwd64 = (Bwd<double>)p[3];
}

static constexpr int64_t PARALLEL_SIZE = 1 << 17;          // from this many elements a call uses the threads
static int threads(int64_t n) { return n >= PARALLEL_SIZE ? at::get_num_threads() : 1; }    // as kernels._threads

struct Shape { int64_t outer, C, inner; };
// how the kernels read a contiguous x for n parameters along dim (as kernels.layout)
static Shape shape_of(const Tensor& x, int64_t n, int64_t dim) {
  if (n == 1) return {1, 1, x.numel()};
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; i++) outer *= x.size(i);
  for (int64_t i = dim + 1; i < x.dim(); i++) inner *= x.size(i);
  return {outer, x.size(dim), inner};
}

// the kernels' per-channel input (as kernels._c_vectors): e^-a for Exponential, a for Rational. e^-a is computed once
// per value of a (vectors of up to 64 values, 1,024 of them per thread): a layer whose `a` has not changed since its last call reuses it.
static Tensor kernel_p(const Tensor& a, bool rational) {
  if (rational) return a;
  if (a.numel() > 64 || c10::InferenceMode::is_enabled()) return a.neg().exp_();   // (an inference tensor: never saved)
  thread_local auto* seen = new std::unordered_map<std::string, Tensor>();   // never freed: no order of destruction at exit
  std::string key(static_cast<const char*>(a.const_data_ptr()), a.nbytes());
  key.push_back(static_cast<char>(a.scalar_type()));
  auto it = seen->find(key);
  if (it != seen->end()) return it->second;
  if (seen->size() >= 1024) seen->clear();
  return (*seen)[key] = a.neg().exp_();
}

static Tensor forward_kernel(const Tensor& x, const Tensor& p, const Tensor& a, bool rational, int64_t dim) {
  TORCH_CHECK(fwd32, "activations_repro: the C kernels were not handed to the C++ operator");
  Shape s = shape_of(x, a.numel(), dim);
  Tensor y = at::empty_like(x);
  int rc = x.scalar_type() == at::kFloat
    ? fwd32(x.const_data_ptr<float>(), y.mutable_data_ptr<float>(), p.const_data_ptr<float>(), a.const_data_ptr<float>(),
            rational, s.outer, s.C, s.inner, threads(x.numel()))
    : fwd64(x.const_data_ptr<double>(), y.mutable_data_ptr<double>(), p.const_data_ptr<double>(), a.const_data_ptr<double>(),
            rational, s.outer, s.C, s.inner, threads(x.numel()));
  TORCH_CHECK(rc == 0, "the C kernel could not allocate the buffer of its constants");
  return y;
}

// the incoming gradient in x's order. `.sum().backward()` hands one value broadcast to x's shape: on a small tensor it is
// written out here, as `contiguous()` would but without its TensorIterator's cost (as large as the kernels' own work there)
static Tensor dense(const Tensor& g) {
  const auto st = g.strides();
  if (g.is_contiguous() || g.numel() >= PARALLEL_SIZE || !std::all_of(st.begin(), st.end(), [](int64_t s) { return s == 0; }))
    return g.contiguous();
  Tensor d = at::empty(g.sizes(), g.options());
  if (g.scalar_type() == at::kFloat) std::fill_n(d.mutable_data_ptr<float>(), d.numel(), *g.const_data_ptr<float>());
  else std::fill_n(d.mutable_data_ptr<double>(), d.numel(), *g.const_data_ptr<double>());
  return d;
}

static std::tuple<Tensor, Tensor> backward_kernel(const Tensor& g, const Tensor& x, const Tensor& p, const Tensor& a,
                                                  bool rational, int64_t dim) {
  Shape s = shape_of(x, a.numel(), dim);
  Tensor gx = at::empty_like(x), da = at::empty({s.C}, x.options());
  int rc = x.scalar_type() == at::kFloat
    ? bwd32(g.const_data_ptr<float>(), x.const_data_ptr<float>(), p.const_data_ptr<float>(), a.const_data_ptr<float>(),
            gx.mutable_data_ptr<float>(), da.mutable_data_ptr<float>(), rational, s.outer, s.C, s.inner, threads(x.numel()))
    : bwd64(g.const_data_ptr<double>(), x.const_data_ptr<double>(), p.const_data_ptr<double>(), a.const_data_ptr<double>(),
            gx.mutable_data_ptr<double>(), da.mutable_data_ptr<double>(), rational, s.outer, s.C, s.inner, threads(x.numel()));
  TORCH_CHECK(rc == 0, "the C kernel could not allocate the buffer of its partial sums");
  return {gx, da};
}

struct Activation : public torch::autograd::Function<Activation> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& a, int64_t dim, bool rational) {
    at::AutoDispatchBelowADInplaceOrView guard;
    Tensor p = kernel_p(a, rational);                 // once for both passes
    ctx->save_for_backward({x, a, p});
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["rational"] = rational;
    return forward_kernel(x, p, a, rational, dim);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    int64_t dim = ctx->saved_data["dim"].toInt();
    bool rational = ctx->saved_data["rational"].toBool();
    Tensor g = dense(grads[0]);                       // read in the same order as x
    if (at::GradMode::is_enabled()) {                 // create_graph: the Python op's derivative, itself differentiable
      static auto op = c10::Dispatcher::singleton()
        .findSchemaOrThrow("activations_repro::scaled_negative_backward", "")
        .typed<std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&, c10::string_view, int64_t)>();
      auto [gx, ga] = op.call(g, saved[0], saved[1], rational ? "rational" : "exponential", dim);
      return {gx, ga, Tensor(), Tensor()};
    }
    auto [gx, da] = backward_kernel(g, saved[0], saved[2], saved[1], rational, dim);
    return {gx, da, Tensor(), Tensor()};
  }
};

static Tensor activation_cpu(const Tensor& x, const Tensor& a, int64_t dim, bool rational) {
  return forward_kernel(x, kernel_p(a, rational), a, rational, dim);
}
static Tensor activation_autograd(const Tensor& x, const Tensor& a, int64_t dim, bool rational) {
  if (!at::GradMode::is_enabled() || !(x.requires_grad() || a.requires_grad())) {    // nothing to differentiate
    at::AutoDispatchBelowADInplaceOrView guard;
    return activation_cpu(x, a, dim, rational);
  }
  return Activation::apply(x, a, dim, rational);
}

// x: contiguous float32/64 on the CPU; a: contiguous, 1 value or one per channel along dim, of x's dtype (Python checks)
TORCH_LIBRARY(activations_repro_cpp, m) {
  m.def("scaled_negative(Tensor x, Tensor a, int dim, bool rational) -> Tensor");
  m.def("set_kernels(int[] addresses) -> ()", set_kernels);
}
TORCH_LIBRARY_IMPL(activations_repro_cpp, CPU, m) { m.impl("scaled_negative", activation_cpu); }
TORCH_LIBRARY_IMPL(activations_repro_cpp, Autograd, m) { m.impl("scaled_negative", activation_autograd); }
