from __future__ import annotations

from learner.training.launch import LaunchKind, plan_launch, visible_gpu_count


def test_single_process_without_several_gpus() -> None:
    for gpus in (0, 1):
        plan = plan_launch(["--job", "j"], gpus=gpus, python="/py")
        assert plan.kind is LaunchKind.SINGLE and plan.nproc == 1
        assert plan.argv == ["/py", "-m", "learner.training.worker", "--job", "j"]


def test_torchrun_with_several_gpus() -> None:
    plan = plan_launch(["--job", "j"], gpus=4, python="/py")
    assert plan.kind is LaunchKind.TORCHRUN and plan.nproc == 4
    assert plan.argv[:5] == ["/py", "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node=4"]
    assert plan.argv[5:] == ["-m", "learner.training.worker", "--job", "j"]


def test_visible_gpu_count() -> None:
    def probe() -> int:
        return 8

    assert visible_gpu_count({}, probe) == 8
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": ""}, probe) == 0
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": "-1"}, probe) == 0
    assert visible_gpu_count({"CUDA_VISIBLE_DEVICES": "0,2"}, probe) == 2
