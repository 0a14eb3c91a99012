"""Public statistics (Res. Conjunta 6/2020 art. 9 I; issue 15): counts kept as communications are accepted
(:mod:`~gateway.estatisticas.store`), the fixed grid (:mod:`~gateway.estatisticas.domain`), primary and
complementary suppression (:mod:`~gateway.estatisticas.suppression`) and the cached answers
(:mod:`~gateway.estatisticas.service`)."""
