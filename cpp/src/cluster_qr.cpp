#include "modcore/cluster_qr.hpp"

#include <Eigen/Core>
#include <Eigen/SVD>

#include <cmath>

#include "modcore/pivot.hpp"

namespace modcore {

std::vector<std::int32_t> cluster_qr(const double* rows, Index n, int k, const std::uint64_t* key) {
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const RowMajor> V(rows, n, k);
    // Column-pivoted Gram-Schmidt on V^T's columns (V's rows): the row with the
    // largest norm left after projecting out the rows picked so far, ties by value
    // (pivot.hpp), so the picks do not depend on the order of units.
    Eigen::VectorXd left = V.rowwise().squaredNorm();
    Eigen::MatrixXd basis(k, k);
    Eigen::MatrixXd picked(k, k);
    for (int j = 0; j < k; ++j) {
        const Index p = pick_pivot(left, key, n);
        picked.row(j) = V.row(p);
        Eigen::VectorXd q = V.row(p).transpose();
        const auto done = basis.leftCols(j);
        for (int pass = 0; pass < 2; ++pass) q -= done * (done.transpose() * q);
        const double norm = q.norm();
        q = norm > 0.0 ? Eigen::VectorXd(q / norm) : Eigen::VectorXd::Zero(k);
        basis.col(j) = q;
        left -= (V * q).cwiseAbs2();
        left[p] = 0.0;
    }
    // The orthogonal factor of the picked rows' polar decomposition.
    const Eigen::JacobiSVD<Eigen::MatrixXd> svd(picked.transpose(),
                                                Eigen::ComputeFullU | Eigen::ComputeFullV);
    const Eigen::MatrixXd rotation = svd.matrixU() * svd.matrixV().transpose();
    std::vector<std::int32_t> labels(n);
    std::vector<Index> size(k, 0);
    Eigen::RowVectorXd r(k);
    for (Index i = 0; i < n; ++i) {
        r.noalias() = V.row(i) * rotation;
        // The largest |entry|; axes within kPivotTie of it tie, and go to the first
        // (axes are numbered in pick order, itself by value).
        const double top = r.cwiseAbs().maxCoeff();
        int arg = 0;
        while (std::fabs(r[arg]) < top * (1.0 - kPivotTie)) ++arg;
        labels[i] = static_cast<std::int32_t>(arg);
        ++size[arg];
    }
    // An axis no unit chose (rare: 0 of 200 reference shuffles) takes the unit
    // closest to it among those whose module keeps another unit, so there are
    // always k modules, as with k-means.
    Eigen::VectorXd closeness(n);
    for (int j = 0; j < k; ++j) {
        if (size[j] > 0) continue;
        for (Index i = 0; i < n; ++i)
            closeness[i] = size[labels[i]] < 2 ? -1.0 : std::fabs(V.row(i).dot(rotation.col(j)));
        const Index best = pick_pivot(closeness, key, n);
        --size[labels[best]];
        labels[best] = j;
        size[j] = 1;
    }
    return labels;
}

}  // namespace modcore
