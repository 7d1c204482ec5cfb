// Mux trees onto ECP5 slices (Yosys techmap, after muxcover): a 4:1 mux is two LUT4 2:1 muxes
// joined by the slice's PFUMX; an 8:1 joins two of those with the slice pair's L6MUX21, a 16:1
// two 8:1s with the PFU's outer L6MUX21. $_MUXn_: Y = input number {V,U,T,S} (S the LSB).
module \$_MUX4_ (input A, B, C, D, S, T, output Y);
  wire lo, hi;
  LUT4 #(.INIT(16'hCACA)) lut_lo (.A(A), .B(B), .C(S), .D(1'b0), .Z(lo));
  LUT4 #(.INIT(16'hCACA)) lut_hi (.A(C), .B(D), .C(S), .D(1'b0), .Z(hi));
  PFUMX mux (.ALUT(hi), .BLUT(lo), .C0(T), .Z(Y));
endmodule

module \$_MUX8_ (input A, B, C, D, E, F, G, H, S, T, U, output Y);
  wire lo, hi;
  \$_MUX4_ m_lo (.A(A), .B(B), .C(C), .D(D), .S(S), .T(T), .Y(lo));
  \$_MUX4_ m_hi (.A(E), .B(F), .C(G), .D(H), .S(S), .T(T), .Y(hi));
  L6MUX21 mux (.D0(lo), .D1(hi), .SD(U), .Z(Y));
endmodule

module \$_MUX16_ (input A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, S, T, U, V, output Y);
  wire lo, hi;
  \$_MUX8_ m_lo (.A(A), .B(B), .C(C), .D(D), .E(E), .F(F), .G(G), .H(H), .S(S), .T(T), .U(U), .Y(lo));
  \$_MUX8_ m_hi (.A(I), .B(J), .C(K), .D(L), .E(M), .F(N), .G(O), .H(P), .S(S), .T(T), .U(U), .Y(hi));
  L6MUX21 mux (.D0(lo), .D1(hi), .SD(V), .Z(Y));
endmodule
