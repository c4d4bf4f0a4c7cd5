"""Collectives counted from HLO text: kinds, bytes, group sizes, and loop bodies times their trips."""

from bertlab.training import hlo_collectives

HLO = """HloModule m

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %s = f32[] add(%a, %b)
}

%cond (p: (s32[], f32[8])) -> pred[] {
  %p = (s32[], f32[8]) parameter(0)
  %c = s32[]{:T(128)} constant(24)
  %i = s32[] get-tuple-element(%p), index=0
  ROOT %lt = pred[] compare(%i, %c), direction=LT
}

%body (p: (s32[], f32[8])) -> (s32[], f32[8]) {
  %p = (s32[], f32[8]) parameter(0)
  %x = f32[8] get-tuple-element(%p), index=1
  %g = bf16[4,8]{1,0} all-gather(%x), replica_groups=mesh['axis_0'=1,'axis_1'=4] {'axis_1'}, dimensions={0}
  ROOT %t = (s32[], f32[8]) tuple(%i, %x)
}

ENTRY %main (x: f32[1024]) -> f32[1024] {
  %x = f32[1024]{0} parameter(0)
  %r = f32[1024]{0} all-reduce(%x), replica_groups={{0,1,2,3}}, to_apply=%add
  %w = (s32[], f32[8]) while(%init), condition=%cond, body=%body
  %rs = f32[256]{0} reduce-scatter(%x), replica_groups=[1,4]<=[4], dimensions={0}, to_apply=%add
  ROOT %o = f32[1024] copy(%r)
}
"""


def test_counts_bytes_and_loop_trips():
  c = hlo_collectives.parse(HLO, n_devices=4)
  assert c["all-reduce"] == {"count": 1, "bytes": 4096, "wire_bytes": 2 * 4096 * 3 / 4}
  # Inside a 24-trip loop: 24 all-gathers of 4 x 8 bf16 = 64 bytes each.
  assert c["all-gather"] == {"count": 24, "bytes": 24 * 64, "wire_bytes": 24 * 64 * 3 / 4}
  assert c["reduce-scatter"] == {"count": 1, "bytes": 1024, "wire_bytes": 1024 * 3}
  assert hlo_collectives.summary(c) == (4096 + 24 * 64 + 1024,
                                        6144 + 1152 + 3072)
