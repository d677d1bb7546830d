"""Layer.fresh(): a copy for each check, through the class's own copy protocol when it has one (mutation testing)."""

from __future__ import annotations

import copy

import symgrad


class CountedAffine(symgrad.Affine):
    copies = 0

    def __copy__(self):
        CountedAffine.copies += 1
        clone = CountedAffine.__new__(CountedAffine)
        clone.__dict__.update(self.__dict__)
        return clone


def test_fresh_copies_a_plain_layer_and_uses_a_class_s_own_copy_method():
    plain = symgrad.Affine(3, 2)
    clone = plain.fresh()
    assert type(clone) is symgrad.Affine
    assert clone is not plain
    assert vars(clone) == vars(plain)
    CountedAffine.copies = 0
    own = CountedAffine(3, 2)
    clone = own.fresh()
    assert isinstance(clone, CountedAffine)
    assert clone is not own
    assert CountedAffine.copies == 1
    assert vars(copy.copy(own)) == vars(clone)
